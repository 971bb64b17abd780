-- imported by beside.lua: a module beside the script wins over one in modules/.
return { place = "beside the script" }
