-- A module beside the script wins over one in modules/.
print(import("where").place)
