side_effect = "set by no_return"
