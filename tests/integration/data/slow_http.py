"""slow_http.py - an HTTP server that never answers in time: every request
is held for 60 s (the test kills it sooner). Prints "port N" once it
listens on 127.0.0.1 (port chosen by the kernel)."""
import http.server
import socketserver
import time


class Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(60)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Slow)
print("port %d" % srv.server_address[1], flush=True)
srv.serve_forever()
