print("req_mod loaded")
return { answer = 42 }
