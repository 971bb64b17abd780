-- A module that does not parse: the error names the module, its file and line, and Lua's message.
import("broken")
