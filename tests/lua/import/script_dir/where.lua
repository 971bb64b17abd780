return { place = "beside the script" }
