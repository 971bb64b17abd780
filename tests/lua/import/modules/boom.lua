local boom = {}

error("boom went the module")

return boom
