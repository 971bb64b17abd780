return { place = "in modules/" }
