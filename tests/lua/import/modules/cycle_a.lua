import("cycle_b")
return {}
