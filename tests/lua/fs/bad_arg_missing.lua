print("before")
read_file()
print("not reached")
