// See include/gptauth_pq.h. Prototypes come from libpq's own header (Debian `libpq-dev`), so each
// pointer below has exactly the type of the function it is loaded from.
#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <libpq-fe.h>
#include "gptauth_pq.h"

static struct {
    __typeof__(PQconnectdb) *connectdb;
    __typeof__(PQstatus) *status;
    __typeof__(PQerrorMessage) *errorMessage;
    __typeof__(PQfinish) *finish;
    __typeof__(PQsocket) *socket;
    __typeof__(PQexecParams) *execParams;
    __typeof__(PQexec) *exec;
    __typeof__(PQresultStatus) *resultStatus;
    __typeof__(PQresultErrorMessage) *resultErrorMessage;
    __typeof__(PQresultErrorField) *resultErrorField;
    __typeof__(PQntuples) *ntuples;
    __typeof__(PQnfields) *nfields;
    __typeof__(PQgetvalue) *getvalue;
    __typeof__(PQgetisnull) *getisnull;
    __typeof__(PQclear) *clear;
} pq;

static const char *load_error = "libpq is not loaded";
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

#define LOAD(field, name) if (!(pq.field = (__typeof__(pq.field))dlsym(library, #name))) { load_error = "libpq lacks " #name; return; }

static void load(void) {
    void *library = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (!library) { load_error = "cannot load libpq.so.5 (install Debian's libpq5)"; return; }
    LOAD(connectdb, PQconnectdb)
    LOAD(status, PQstatus)
    LOAD(errorMessage, PQerrorMessage)
    LOAD(finish, PQfinish)
    LOAD(socket, PQsocket)
    LOAD(execParams, PQexecParams)
    LOAD(exec, PQexec)
    LOAD(resultStatus, PQresultStatus)
    LOAD(resultErrorMessage, PQresultErrorMessage)
    LOAD(resultErrorField, PQresultErrorField)
    LOAD(ntuples, PQntuples)
    LOAD(nfields, PQnfields)
    LOAD(getvalue, PQgetvalue)
    LOAD(getisnull, PQgetisnull)
    LOAD(clear, PQclear)
    load_error = NULL;
}

const char *gptauth_pq_load(void) {
    pthread_once(&load_once, load);
    return load_error;
}

gptauth_pq_conn *gptauth_pq_connect(const char *conninfo) { return pq.connectdb(conninfo); }
int gptauth_pq_connected(const gptauth_pq_conn *conn) { return conn && pq.status(conn) == CONNECTION_OK; }
int gptauth_pq_idle_usable(const gptauth_pq_conn *conn) {
    if (!conn || pq.status(conn) != CONNECTION_OK) return 0;
    struct pollfd probe = { .fd = pq.socket(conn), .events = POLLIN };
    if (probe.fd < 0) return 0;
    return poll(&probe, 1, 0) == 0;
}

const char *gptauth_pq_connection_error(const gptauth_pq_conn *conn) { return conn ? pq.errorMessage(conn) : "no connection"; }
void gptauth_pq_finish(gptauth_pq_conn *conn) { if (conn) pq.finish(conn); }

gptauth_pq_result *gptauth_pq_exec(gptauth_pq_conn *conn, const char *sql, int count, const char *const *values) {
    return pq.execParams(conn, sql, count, NULL, values, NULL, NULL, 0);
}

gptauth_pq_result *gptauth_pq_exec_script(gptauth_pq_conn *conn, const char *sql) { return pq.exec(conn, sql); }

int gptauth_pq_status(const gptauth_pq_result *result) {
    if (!result) return -1;
    switch (pq.resultStatus(result)) {
    case PGRES_TUPLES_OK: return 1;
    case PGRES_COMMAND_OK: return 0;
    default: return -1;
    }
}

const char *gptauth_pq_result_error(const gptauth_pq_result *result) {
    return result ? pq.resultErrorMessage(result) : "no result (out of memory or connection lost)";
}

const char *gptauth_pq_sqlstate(const gptauth_pq_result *result) {
    const char *state = result ? pq.resultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
    return state ? state : "";
}

int gptauth_pq_rows(const gptauth_pq_result *result) { return pq.ntuples(result); }
int gptauth_pq_columns(const gptauth_pq_result *result) { return pq.nfields(result); }

const char *gptauth_pq_value(const gptauth_pq_result *result, int row, int column) {
    return pq.getisnull(result, row, column) ? NULL : pq.getvalue(result, row, column);
}

void gptauth_pq_clear(gptauth_pq_result *result) { if (result) pq.clear(result); }
