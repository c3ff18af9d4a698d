/* The ceiling reference for bench/run: a bare libfcgi responder that answers every request with a
 * fixed JSON body and does nothing else. Like our endpoints it serves FastCGI when spawn-fcgi starts
 * it and plain CGI otherwise (FCGX_IsCGI). Build: cc -O2 reference.c -lfcgi */
#include <fcgiapp.h>
#include <stdio.h>

static const char reply[] =
    "Status: 200 OK\r\n"
    "Content-Type: application/json; charset=utf-8\r\n"
    "Cache-Control: no-store\r\n"
    "\r\n"
    "{\"message\":\"Hello from the C reference\"}\n";

int main(void) {
    if (FCGX_IsCGI()) {
        fwrite(reply, 1, sizeof reply - 1, stdout);
        return 0;
    }
    FCGX_Request request;
    if (FCGX_Init() != 0 || FCGX_InitRequest(&request, 0, 0) != 0) return 1;
    while (FCGX_Accept_r(&request) >= 0) {
        FCGX_PutStr(reply, sizeof reply - 1, request.out);
        FCGX_Finish_r(&request);
    }
    return 0;
}
