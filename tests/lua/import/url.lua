-- A URL import whose fetch fails names the URL and why (port 1 on loopback refuses).
import("http://127.0.0.1:1/cool_utils.lua")
