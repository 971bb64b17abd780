-- A missing module: the error lists every place searched.
import("nope")
