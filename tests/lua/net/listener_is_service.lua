-- A listener is a service (SPEC §4): once one runs, the whole-run timeout (1 s here) no longer
-- applies; closing the listeners lets the run end normally.
local tcp, tport = tcp_listen(0, "127.0.0.1")
local udp, uport = udp_recvfrom(0, "127.0.0.1")
sleep(1.5)
print("still running after the whole-run timeout")
close(tcp)
close(udp)
