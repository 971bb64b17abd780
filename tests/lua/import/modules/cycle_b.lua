import("cycle_a")
return {}
