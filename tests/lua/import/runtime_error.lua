-- An error inside a module propagates with the module's file and line.
print("before")
import("boom")
print("not reached")
