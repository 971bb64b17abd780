local broken = {}
broken.x = = 1
return broken
