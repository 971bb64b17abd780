-- URL imports wait for the HTTP client.
import("https://raw.githubusercontent.com/someuser/somerepo/main/cool_utils.lua")
