-- Modules that import each other are an error, not endless recursion.
import("cycle_a")
