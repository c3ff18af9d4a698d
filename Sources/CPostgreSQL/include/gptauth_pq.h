// The few libpq calls the PostgreSQL store makes, through libpq loaded at run time.
//
// Why loaded rather than linked: the release endpoints are single static executables (for cheap
// shared hosting, which uses the file store), and libpq cannot be linked into a static executable
// here (Debian ships no static Kerberos or LDAP). So the system's libpq (Debian `libpq5`) is opened
// with dlopen the first time a configuration names a PostgreSQL store, and never otherwise.
#ifndef GPTAUTH_PQ_H
#define GPTAUTH_PQ_H

typedef struct pg_conn gptauth_pq_conn;
typedef struct pg_result gptauth_pq_result;

/// Opens libpq once per process; NULL when it is ready, else why not (a static string).
const char *gptauth_pq_load(void);

/// A new connection (PQconnectdb); never NULL once loaded. Check it with gptauth_pq_connected.
gptauth_pq_conn *gptauth_pq_connect(const char *conninfo);
int gptauth_pq_connected(const gptauth_pq_conn *conn);
/// Whether an idle connection is still usable: nothing has arrived on it since the last answer.
/// A server that restarted or ended the session has sent its goodbye (or closed the socket), so
/// its socket is readable; such a connection is replaced before a statement is sent on it.
int gptauth_pq_idle_usable(const gptauth_pq_conn *conn);
const char *gptauth_pq_connection_error(const gptauth_pq_conn *conn);
void gptauth_pq_finish(gptauth_pq_conn *conn);

/// One statement with text parameters and text results, in one round trip (PQexecParams).
gptauth_pq_result *gptauth_pq_exec(gptauth_pq_conn *conn, const char *sql, int count, const char *const *values);
/// Several statements without parameters (a migration), in one round trip (PQexec).
gptauth_pq_result *gptauth_pq_exec_script(gptauth_pq_conn *conn, const char *sql);
/// 1: rows returned, 0: command done, -1: failed.
int gptauth_pq_status(const gptauth_pq_result *result);
const char *gptauth_pq_result_error(const gptauth_pq_result *result);
/// The five-character SQLSTATE of a failure, or "" (e.g. "23505" unique violation, "40001").
const char *gptauth_pq_sqlstate(const gptauth_pq_result *result);
int gptauth_pq_rows(const gptauth_pq_result *result);
int gptauth_pq_columns(const gptauth_pq_result *result);
/// A field as text, or NULL when it is SQL NULL.
const char *gptauth_pq_value(const gptauth_pq_result *result, int row, int column);
void gptauth_pq_clear(gptauth_pq_result *result);

#endif
