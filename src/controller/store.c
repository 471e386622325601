/* SQLite store of the controller. */
#include "controller/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

struct store {
	sqlite3 *db;
	pthread_mutex_t lock;
};

static void sqlite3_finalizep(sqlite3_stmt **s)
{
	if (*s)
		sqlite3_finalize(*s);
}
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

#define EVENTS_KEPT 20000

/* Schema steps: step N brings the schema from version N to N + 1. */
static const char *const schema_steps[] = {
	"CREATE TABLE hosts ("
	"  name TEXT PRIMARY KEY,"
	"  url TEXT NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'online',"
	"  facts TEXT NOT NULL DEFAULT '{}',"
	"  load TEXT, memory TEXT,"
	"  registered_ms INTEGER NOT NULL,"
	"  last_seen_ms INTEGER NOT NULL);"
	"CREATE TABLE workloads ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  kind TEXT NOT NULL,"
	"  host TEXT NOT NULL,"
	"  spec TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  status TEXT,"
	"  auto_migrate INTEGER NOT NULL DEFAULT 0,"
	"  created_ms INTEGER NOT NULL,"
	"  updated_ms INTEGER NOT NULL);"
	"CREATE INDEX workloads_host ON workloads(host);"
	"CREATE TABLE migrations ("
	"  id TEXT PRIMARY KEY,"
	"  workload TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  source TEXT NOT NULL,"
	"  target TEXT NOT NULL,"
	"  mode_requested TEXT NOT NULL,"
	"  mode TEXT NOT NULL,"
	"  mode_reason TEXT NOT NULL DEFAULT '',"
	"  options TEXT NOT NULL DEFAULT '{}',"
	"  state TEXT NOT NULL,"
	"  error TEXT, note TEXT,"
	"  stats TEXT NOT NULL DEFAULT '{}',"
	"  version INTEGER NOT NULL DEFAULT 1,"
	"  created_ms INTEGER NOT NULL,"
	"  finished_ms INTEGER);"
	"CREATE INDEX migrations_workload ON migrations(workload);"
	/* at most one unfinished migration per workload, enforced by the store */
	"CREATE UNIQUE INDEX migrations_one_active ON migrations(workload)"
	"  WHERE state NOT IN ('committed', 'rolled_back', 'failed');"
	"CREATE TABLE journal ("
	"  migration TEXT NOT NULL,"
	"  time_ms INTEGER NOT NULL,"
	"  phase TEXT NOT NULL,"
	"  note TEXT);"
	"CREATE INDEX journal_migration ON journal(migration);"
	"CREATE TABLE events ("
	"  seq INTEGER PRIMARY KEY,"
	"  time_ms INTEGER NOT NULL,"
	"  type TEXT NOT NULL,"
	"  data TEXT NOT NULL);",
	/* web UI sessions (src/controller/session.c) */
	"CREATE TABLE sessions ("
	"  id TEXT PRIMARY KEY,"
	"  csrf TEXT NOT NULL,"
	"  peer TEXT NOT NULL DEFAULT '',"
	"  agent TEXT NOT NULL DEFAULT '',"
	"  created_ms INTEGER NOT NULL,"
	"  expires_ms INTEGER NOT NULL);"
	"CREATE INDEX sessions_expires ON sessions(expires_ms);",
};

#define SCHEMA_VERSION ((int)ELEMENTSOF(schema_steps))

static int sql_fail(store_t *st, flyt_error_t *err, const char *what)
{
	return flyt_error_set(err, FLYT_E_IO, 0, "store: %s: %s", what, sqlite3_errmsg(st->db));
}

static int exec(store_t *st, const char *sql, flyt_error_t *err)
{
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		flyt_error_set(err, FLYT_E_IO, 0, "store: %s", msg ? msg : "exec failed");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int prepare(store_t *st, const char *sql, sqlite3_stmt **ret, flyt_error_t *err)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, ret, NULL) != SQLITE_OK)
		return sql_fail(st, err, "prepare");
	return 0;
}

static int user_version(store_t *st)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return -1;
	return sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
}

static int migrate_schema(store_t *st, flyt_error_t *err)
{
	int v = user_version(st);
	if (v < 0)
		return sql_fail(st, err, "read schema version");
	if (v > SCHEMA_VERSION)
		return flyt_error_set(
		    err, FLYT_E_UNSUPPORTED, 0,
		    "the database has schema version %d, newer than this controller's %d: use a newer flyt-controller",
		    v, SCHEMA_VERSION);
	for (; v < SCHEMA_VERSION; v++) {
		char pragma[64];
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
		if (exec(st, "BEGIN IMMEDIATE", err) < 0)
			return -1;
		if (exec(st, schema_steps[v], err) < 0 || exec(st, pragma, err) < 0) {
			exec(st, "ROLLBACK", NULL);
			return flyt_error_prefix(err, "upgrading the schema to version %d", v + 1);
		}
		if (exec(st, "COMMIT", err) < 0)
			return -1;
	}
	return 0;
}

int store_open(const char *path, store_t **ret, flyt_error_t *err)
{
	store_t *st = flyt_malloc0(sizeof(*st));
	pthread_mutex_init(&st->lock, NULL);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
	    SQLITE_OK) {
		flyt_error_set(err, FLYT_E_IO, 0, "open database %s: %s", path,
			       st->db ? sqlite3_errmsg(st->db) : "out of memory");
		store_close(st);
		return -1;
	}
	sqlite3_busy_timeout(st->db, 5000);
	if (exec(st, "PRAGMA journal_mode = WAL", err) < 0 || exec(st, "PRAGMA synchronous = NORMAL", err) < 0 ||
	    exec(st, "PRAGMA foreign_keys = ON", err) < 0 || migrate_schema(st, err) < 0) {
		flyt_error_prefix(err, "database %s", path);
		store_close(st);
		return -1;
	}
	*ret = st;
	return 0;
}

void store_close(store_t *st)
{
	if (!st)
		return;
	if (st->db)
		sqlite3_close(st->db);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

int store_schema_version(store_t *st)
{
	pthread_mutex_lock(&st->lock);
	int v = user_version(st);
	pthread_mutex_unlock(&st->lock);
	return v;
}

/* ---- helpers ---- */

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static void bind_json(sqlite3_stmt *s, int i, json_t *j)
{
	if (!j) {
		sqlite3_bind_null(s, i);
		return;
	}
	char *text = flyt_json_dumps(j);
	sqlite3_bind_text(s, i, text, -1, free);
}

static json_t *col_json(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	if (!t)
		return json_null();
	json_t *j = json_loads(t, 0, NULL);
	return j ? j : json_null();
}

static json_t *col_text(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	return t ? json_string(t) : json_null();
}

static json_t *col_time(sqlite3_stmt *s, int i)
{
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return json_null();
	char when[40];
	flyt_format_time(sqlite3_column_int64(s, i), when, sizeof(when));
	return json_string(when);
}

/* ---- hosts ---- */

int store_host_upsert(store_t *st, const char *name, const char *url, json_t *facts, int64_t now_ms, bool *ret_new,
		      flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *q = NULL, *s = NULL;
	if (prepare(st, "SELECT 1 FROM hosts WHERE name = ?", &q, err) < 0)
		goto out;
	bind_text(q, 1, name);
	bool exists = sqlite3_step(q) == SQLITE_ROW;
	if (prepare(st,
		    "INSERT INTO hosts (name, url, state, facts, load, memory, registered_ms, last_seen_ms)"
		    " VALUES (?1, ?2, 'online', ?3, ?4, ?5, ?6, ?6)"
		    " ON CONFLICT(name) DO UPDATE SET url = ?2, state = 'online', facts = ?3, load = ?4,"
		    " memory = ?5, last_seen_ms = ?6",
		    &s, err) < 0)
		goto out;
	bind_text(s, 1, name);
	bind_text(s, 2, url);
	bind_json(s, 3, facts);
	bind_json(s, 4, json_object_get(facts, "load"));
	bind_json(s, 5, json_object_get(facts, "memory"));
	sqlite3_bind_int64(s, 6, now_ms);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "save host");
		goto out;
	}
	if (ret_new)
		*ret_new = !exists;
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

int store_host_seen(store_t *st, const char *name, json_t *load, json_t *memory, int64_t now_ms, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st,
		    "UPDATE hosts SET last_seen_ms = ?2, load = coalesce(?3, load), memory = coalesce(?4, memory)"
		    " WHERE name = ?1",
		    &s, err) < 0)
		goto out;
	bind_text(s, 1, name);
	sqlite3_bind_int64(s, 2, now_ms);
	bind_json(s, 3, load);
	bind_json(s, 4, memory);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "update host");
		goto out;
	}
	if (sqlite3_changes(st->db) == 0) {
		flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "unknown host %s: register first", name);
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

int store_host_set_state(store_t *st, const char *name, const char *state, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "UPDATE hosts SET state = ?2 WHERE name = ?1 AND state != ?2", &s, err) < 0)
		goto out;
	bind_text(s, 1, name);
	bind_text(s, 2, state);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "update host");
		goto out;
	}
	r = sqlite3_changes(st->db) > 0 ? 1 : 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

#define HOST_COLUMNS                                                                          \
	"h.name, h.url, h.state, h.facts, h.load, h.memory, h.registered_ms, h.last_seen_ms," \
	" (SELECT count(*) FROM workloads w WHERE w.host = h.name)"

static json_t *host_row(sqlite3_stmt *s, bool full)
{
	json_t *facts = col_json(s, 3);
	json_t *h = json_object();
	json_object_set_new(h, "name", col_text(s, 0));
	json_object_set_new(h, "url", col_text(s, 1));
	json_object_set_new(h, "state", col_text(s, 2));
	json_object_set_new(h, "data_port", json_incref(json_object_get(facts, "data_port")));
	json_object_set_new(h, "registered", col_time(s, 6));
	json_object_set_new(h, "last_seen", col_time(s, 7));
	json_object_set_new(h, "workloads", json_integer(sqlite3_column_int64(s, 8)));
	json_object_set_new(h, "kernel", json_incref(json_object_get(facts, "kernel")));
	json_object_set_new(h, "criu", json_incref(json_object_get(json_object_get(facts, "criu"), "version")));
	json_object_set_new(h, "area", json_incref(json_object_get(facts, "area")));
	json_object_set_new(h, "load", col_json(s, 4));
	json_object_set_new(h, "memory", col_json(s, 5));
	json_object_set_new(h, "modes", json_incref(json_object_get(facts, "modes")));
	json_object_set_new(h, "drivers", json_incref(json_object_get(facts, "drivers")));
	if (full)
		json_object_set(h, "facts", facts);
	json_decref(facts);
	return h;
}

json_t *store_host_get(store_t *st, const char *name)
{
	pthread_mutex_lock(&st->lock);
	json_t *h = NULL;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "SELECT " HOST_COLUMNS " FROM hosts h WHERE h.name = ?", &s, NULL) == 0) {
		bind_text(s, 1, name);
		if (sqlite3_step(s) == SQLITE_ROW)
			h = host_row(s, true);
	}
	pthread_mutex_unlock(&st->lock);
	return h;
}

json_t *store_hosts_list(store_t *st)
{
	pthread_mutex_lock(&st->lock);
	json_t *arr = json_array();
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "SELECT " HOST_COLUMNS " FROM hosts h ORDER BY h.name", &s, NULL) == 0)
		while (sqlite3_step(s) == SQLITE_ROW)
			json_array_append_new(arr, host_row(s, false));
	pthread_mutex_unlock(&st->lock);
	return arr;
}

json_t *store_hosts_liveness(store_t *st)
{
	pthread_mutex_lock(&st->lock);
	json_t *arr = json_array();
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "SELECT name, url, state, last_seen_ms FROM hosts", &s, NULL) == 0)
		while (sqlite3_step(s) == SQLITE_ROW)
			json_array_append_new(arr, json_pack("{s:o, s:o, s:o, s:I}", "name", col_text(s, 0), "url",
							     col_text(s, 1), "state", col_text(s, 2), "last_seen_ms",
							     (json_int_t)sqlite3_column_int64(s, 3)));
	pthread_mutex_unlock(&st->lock);
	return arr;
}

int store_host_delete(store_t *st, const char *name, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "DELETE FROM hosts WHERE name = ?", &s, err) < 0)
		goto out;
	bind_text(s, 1, name);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "delete host");
		goto out;
	}
	if (sqlite3_changes(st->db) == 0) {
		flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no host %s", name);
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

/* ---- workloads ---- */

int store_workload_insert(store_t *st, json_t *w, int64_t now_ms, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st,
		    "INSERT INTO workloads (id, name, kind, host, spec, state, created_ms, updated_ms)"
		    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		    &s, err) < 0)
		goto out;
	bind_text(s, 1, flyt_json_str(w, "id", NULL));
	bind_text(s, 2, flyt_json_str(w, "name", NULL));
	bind_text(s, 3, flyt_json_str(w, "kind", NULL));
	bind_text(s, 4, flyt_json_str(w, "host", NULL));
	bind_json(s, 5, json_object_get(w, "spec"));
	bind_text(s, 6, flyt_json_str(w, "state", "creating"));
	sqlite3_bind_int64(s, 7, now_ms);
	sqlite3_bind_int64(s, 8, now_ms);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_CONSTRAINT) {
		flyt_error_set(err, FLYT_E_CONFLICT, 0, "a workload named %s exists already",
			       flyt_json_str(w, "name", ""));
		goto out;
	}
	if (rc != SQLITE_DONE) {
		sql_fail(st, err, "save workload");
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

#define WORKLOAD_COLUMNS "id, name, kind, host, spec, state, status, auto_migrate, created_ms, updated_ms"

static json_t *workload_row(sqlite3_stmt *s)
{
	json_t *w = json_object();
	json_object_set_new(w, "id", col_text(s, 0));
	json_object_set_new(w, "name", col_text(s, 1));
	json_object_set_new(w, "kind", col_text(s, 2));
	json_object_set_new(w, "host", col_text(s, 3));
	json_object_set_new(w, "spec", col_json(s, 4));
	json_object_set_new(w, "state", col_text(s, 5));
	json_t *status = col_json(s, 6);
	static const char *const live[] = { "pid",	 "rss_bytes", "cpu_percent", "cpu_seconds",
					    "processes", "error",     "copies",	     NULL };
	for (const char *const *k = live; *k; k++) {
		json_t *v = json_object_get(status, *k);
		if (v)
			json_object_set(w, *k, v);
	}
	json_decref(status);
	json_object_set_new(w, "auto_migrate", json_boolean(sqlite3_column_int(s, 7)));
	json_object_set_new(w, "created", col_time(s, 8));
	json_object_set_new(w, "updated", col_time(s, 9));
	return w;
}

int64_t store_workload_placed_ms(store_t *st, const char *name)
{
	pthread_mutex_lock(&st->lock);
	int64_t t = 0;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st,
		    "SELECT max(w.created_ms, coalesce((SELECT max(coalesce(m.finished_ms, m.created_ms))"
		    " FROM migrations m WHERE m.workload = w.name), 0)) FROM workloads w WHERE w.name = ?",
		    &s, NULL) == 0) {
		bind_text(s, 1, name);
		if (sqlite3_step(s) == SQLITE_ROW)
			t = sqlite3_column_int64(s, 0);
	}
	pthread_mutex_unlock(&st->lock);
	return t;
}

json_t *store_workload_get(store_t *st, const char *name)
{
	pthread_mutex_lock(&st->lock);
	json_t *w = NULL;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "SELECT " WORKLOAD_COLUMNS " FROM workloads WHERE name = ?", &s, NULL) == 0) {
		bind_text(s, 1, name);
		if (sqlite3_step(s) == SQLITE_ROW)
			w = workload_row(s);
	}
	pthread_mutex_unlock(&st->lock);
	return w;
}

json_t *store_workloads_list(store_t *st, const char *host, const char *kind, const char *state, const char *q,
			     int64_t limit, int64_t offset, int64_t *ret_total)
{
	static const char *const where = " WHERE (?1 IS NULL OR host = ?1) AND (?2 IS NULL OR kind = ?2)"
					 " AND (?3 IS NULL OR state = ?3) AND (?4 IS NULL OR instr(name, ?4) > 0)";
	pthread_mutex_lock(&st->lock);
	json_t *arr = json_array();
	_cleanup_free_ char *sql =
	    flyt_asprintf("SELECT " WORKLOAD_COLUMNS " FROM workloads%s ORDER BY name LIMIT ?5 OFFSET ?6", where);
	_cleanup_free_ char *count_sql = flyt_asprintf("SELECT count(*) FROM workloads%s", where);
	_cleanup_stmt_ sqlite3_stmt *s = NULL, *c = NULL;
	if (prepare(st, sql, &s, NULL) == 0 && prepare(st, count_sql, &c, NULL) == 0) {
		sqlite3_stmt *both[2] = { s, c };
		for (int i = 0; i < 2; i++) {
			bind_text(both[i], 1, host);
			bind_text(both[i], 2, kind);
			bind_text(both[i], 3, state);
			bind_text(both[i], 4, q);
		}
		sqlite3_bind_int64(s, 5, limit);
		sqlite3_bind_int64(s, 6, offset);
		while (sqlite3_step(s) == SQLITE_ROW)
			json_array_append_new(arr, workload_row(s));
		if (ret_total)
			*ret_total = sqlite3_step(c) == SQLITE_ROW ? sqlite3_column_int64(c, 0) : 0;
	}
	pthread_mutex_unlock(&st->lock);
	return arr;
}

int store_workload_update(store_t *st, const char *name, const char *host, const char *state, json_t *status,
			  int64_t now_ms, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st,
		    "UPDATE workloads SET host = coalesce(?2, host), state = coalesce(?3, state),"
		    " status = coalesce(?4, status), updated_ms = ?5 WHERE name = ?1",
		    &s, err) < 0)
		goto out;
	bind_text(s, 1, name);
	bind_text(s, 2, host);
	bind_text(s, 3, state);
	bind_json(s, 4, status);
	sqlite3_bind_int64(s, 5, now_ms);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "update workload");
		goto out;
	}
	if (sqlite3_changes(st->db) == 0) {
		flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no workload %s", name);
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

int store_workload_delete(store_t *st, const char *name, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "DELETE FROM workloads WHERE name = ?", &s, err) < 0)
		goto out;
	bind_text(s, 1, name);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "delete workload");
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

int64_t store_workloads_on_host(store_t *st, const char *host)
{
	pthread_mutex_lock(&st->lock);
	int64_t n = 0;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "SELECT count(*) FROM workloads WHERE host = ?", &s, NULL) == 0) {
		bind_text(s, 1, host);
		if (sqlite3_step(s) == SQLITE_ROW)
			n = sqlite3_column_int64(s, 0);
	}
	pthread_mutex_unlock(&st->lock);
	return n;
}

/* ---- migrations ---- */

int store_migration_insert(store_t *st, json_t *m, int64_t now_ms, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st,
		    "INSERT INTO migrations (id, workload, kind, source, target, mode_requested, mode, mode_reason,"
		    " options, state, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'planned', ?)",
		    &s, err) < 0)
		goto out;
	bind_text(s, 1, flyt_json_str(m, "id", NULL));
	bind_text(s, 2, flyt_json_str(m, "workload", NULL));
	bind_text(s, 3, flyt_json_str(m, "kind", NULL));
	bind_text(s, 4, flyt_json_str(m, "source", NULL));
	bind_text(s, 5, flyt_json_str(m, "target", NULL));
	bind_text(s, 6, flyt_json_str(m, "mode_requested", NULL));
	bind_text(s, 7, flyt_json_str(m, "mode", NULL));
	bind_text(s, 8, flyt_json_str(m, "mode_reason", ""));
	bind_json(s, 9, json_object_get(m, "options"));
	sqlite3_bind_int64(s, 10, now_ms);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_CONSTRAINT) {
		flyt_error_set(err, FLYT_E_CONFLICT, 0, "workload %s is already migrating",
			       flyt_json_str(m, "workload", ""));
		goto out;
	}
	if (rc != SQLITE_DONE) {
		sql_fail(st, err, "save migration");
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

int store_migration_update(store_t *st, const char *id, json_t *upd, int64_t now_ms, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	/* stats merge into the stored object; scalar fields replace */
	if (prepare(
		st,
		"UPDATE migrations SET state = coalesce(?2, state), error = coalesce(?3, error),"
		" note = coalesce(?4, note), stats = json_patch(stats, coalesce(?5, '{}')),"
		" mode = coalesce(?6, mode), mode_reason = coalesce(?7, mode_reason),"
		" finished_ms = CASE WHEN ?2 IN ('committed', 'rolled_back', 'failed') THEN ?8 ELSE finished_ms END,"
		" version = version + 1 WHERE id = ?1",
		&s, err) < 0)
		goto out;
	bind_text(s, 1, id);
	bind_text(s, 2, flyt_json_str(upd, "state", NULL));
	bind_text(s, 3, flyt_json_str(upd, "error", NULL));
	bind_text(s, 4, flyt_json_str(upd, "note", NULL));
	bind_json(s, 5, json_object_get(upd, "stats"));
	bind_text(s, 6, flyt_json_str(upd, "mode", NULL));
	bind_text(s, 7, flyt_json_str(upd, "mode_reason", NULL));
	sqlite3_bind_int64(s, 8, now_ms);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "update migration");
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

int store_migration_journal(store_t *st, const char *id, const char *phase, const char *note, int64_t now_ms,
			    flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "INSERT INTO journal (migration, time_ms, phase, note) VALUES (?, ?, ?, ?)", &s, err) < 0)
		goto out;
	bind_text(s, 1, id);
	sqlite3_bind_int64(s, 2, now_ms);
	bind_text(s, 3, phase);
	bind_text(s, 4, note);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "journal");
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

#define MIGRATION_COLUMNS                                                                                     \
	"id, workload, kind, source, target, mode_requested, mode, mode_reason, options, state, error, note," \
	" stats, version, created_ms, finished_ms"

static json_t *migration_row(sqlite3_stmt *s)
{
	json_t *m = json_object();
	json_object_set_new(m, "id", col_text(s, 0));
	json_object_set_new(m, "workload", col_text(s, 1));
	json_object_set_new(m, "kind", col_text(s, 2));
	json_object_set_new(m, "source", col_text(s, 3));
	json_object_set_new(m, "target", col_text(s, 4));
	json_object_set_new(m, "mode_requested", col_text(s, 5));
	json_object_set_new(m, "mode", col_text(s, 6));
	json_object_set_new(m, "mode_reason", col_text(s, 7));
	json_object_set_new(m, "options", col_json(s, 8));
	json_object_set_new(m, "state", col_text(s, 9));
	json_object_set_new(m, "error", col_text(s, 10));
	json_object_set_new(m, "note", col_text(s, 11));
	json_t *stats = col_json(s, 12);
	static const char *const keys[] = { "total_ms",	   "downtime_ms", "bytes",    "images_bytes", "dump_ms",
					    "transfer_ms", "restore_ms",  "pages_ms", "phase_ms",     NULL };
	for (const char *const *k = keys; *k; k++) {
		json_t *v = json_object_get(stats, *k);
		json_object_set(m, *k, v ? v : json_null());
	}
	json_decref(stats);
	json_object_set_new(m, "version", json_integer(sqlite3_column_int64(s, 13)));
	json_object_set_new(m, "created", col_time(s, 14));
	json_object_set_new(m, "created_ms", json_integer(sqlite3_column_int64(s, 14)));
	json_object_set_new(m, "finished", col_time(s, 15));
	return m;
}

json_t *store_migration_get(store_t *st, const char *id)
{
	pthread_mutex_lock(&st->lock);
	json_t *m = NULL;
	_cleanup_stmt_ sqlite3_stmt *s = NULL, *j = NULL;
	if (prepare(st, "SELECT " MIGRATION_COLUMNS " FROM migrations WHERE id = ?", &s, NULL) == 0) {
		bind_text(s, 1, id);
		if (sqlite3_step(s) == SQLITE_ROW)
			m = migration_row(s);
	}
	if (m &&
	    prepare(st, "SELECT phase, time_ms, note FROM journal WHERE migration = ? ORDER BY rowid", &j, NULL) == 0) {
		bind_text(j, 1, id);
		json_t *journal = json_array();
		while (sqlite3_step(j) == SQLITE_ROW) {
			json_t *e = json_pack("{s:o, s:o}", "phase", col_text(j, 0), "time", col_time(j, 1));
			if (sqlite3_column_type(j, 2) != SQLITE_NULL)
				json_object_set_new(e, "note", col_text(j, 2));
			json_array_append_new(journal, e);
		}
		json_object_set_new(m, "journal", journal);
	}
	pthread_mutex_unlock(&st->lock);
	return m;
}

json_t *store_migrations_list(store_t *st, const char *workload, const char *state, int64_t limit)
{
	pthread_mutex_lock(&st->lock);
	json_t *arr = json_array();
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st,
		    "SELECT " MIGRATION_COLUMNS " FROM migrations WHERE (?1 IS NULL OR workload = ?1)"
		    " AND (?2 IS NULL OR state = ?2) ORDER BY created_ms DESC, rowid DESC LIMIT ?3",
		    &s, NULL) == 0) {
		bind_text(s, 1, workload);
		bind_text(s, 2, state);
		sqlite3_bind_int64(s, 3, limit);
		while (sqlite3_step(s) == SQLITE_ROW)
			json_array_append_new(arr, migration_row(s));
	}
	pthread_mutex_unlock(&st->lock);
	return arr;
}

json_t *store_migrations_unfinished(store_t *st)
{
	pthread_mutex_lock(&st->lock);
	json_t *arr = json_array();
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "SELECT id FROM migrations WHERE state NOT IN ('committed', 'rolled_back', 'failed')", &s,
		    NULL) == 0)
		while (sqlite3_step(s) == SQLITE_ROW)
			json_array_append_new(arr, col_text(s, 0));
	pthread_mutex_unlock(&st->lock);
	return arr;
}

json_t *store_migration_active_for(store_t *st, const char *workload)
{
	pthread_mutex_lock(&st->lock);
	json_t *m = NULL;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st,
		    "SELECT " MIGRATION_COLUMNS " FROM migrations WHERE workload = ?"
		    " AND state NOT IN ('committed', 'rolled_back', 'failed')",
		    &s, NULL) == 0) {
		bind_text(s, 1, workload);
		if (sqlite3_step(s) == SQLITE_ROW)
			m = migration_row(s);
	}
	pthread_mutex_unlock(&st->lock);
	return m;
}

/* ---- events ---- */

int store_event_add(store_t *st, int64_t seq, json_t *event, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL, *trim = NULL;
	if (prepare(st, "INSERT INTO events (seq, time_ms, type, data) VALUES (?, ?, ?, ?)", &s, err) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, seq);
	sqlite3_bind_int64(s, 2, flyt_wall_ms());
	bind_text(s, 3, flyt_json_str(event, "type", "event"));
	bind_json(s, 4, event);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "save event");
		goto out;
	}
	if (seq % 1000 == 0 && prepare(st, "DELETE FROM events WHERE seq <= ?", &trim, NULL) == 0) {
		sqlite3_bind_int64(trim, 1, seq - EVENTS_KEPT);
		sqlite3_step(trim);
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

json_t *store_events_since(store_t *st, int64_t since, int64_t limit)
{
	pthread_mutex_lock(&st->lock);
	json_t *arr = json_array();
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "SELECT data FROM events WHERE seq > ? ORDER BY seq LIMIT ?", &s, NULL) == 0) {
		sqlite3_bind_int64(s, 1, since);
		sqlite3_bind_int64(s, 2, limit);
		while (sqlite3_step(s) == SQLITE_ROW)
			json_array_append_new(arr, col_json(s, 0));
	}
	pthread_mutex_unlock(&st->lock);
	return arr;
}

int64_t store_events_last(store_t *st)
{
	pthread_mutex_lock(&st->lock);
	int64_t n = 0;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "SELECT coalesce(max(seq), 0) FROM events", &s, NULL) == 0 && sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	pthread_mutex_unlock(&st->lock);
	return n;
}

/* ---- sessions ---- */

int store_session_add(store_t *st, json_t *sess, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL, *purge = NULL;
	/* expired sessions go when new ones come, so the table stays small */
	if (prepare(st, "DELETE FROM sessions WHERE expires_ms <= ?", &purge, err) < 0)
		goto out;
	sqlite3_bind_int64(purge, 1, flyt_json_int(sess, "created_ms", 0));
	sqlite3_step(purge);
	if (prepare(st,
		    "INSERT INTO sessions (id, csrf, peer, agent, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?)",
		    &s, err) < 0)
		goto out;
	bind_text(s, 1, flyt_json_str(sess, "id", NULL));
	bind_text(s, 2, flyt_json_str(sess, "csrf", NULL));
	bind_text(s, 3, flyt_json_str(sess, "peer", ""));
	bind_text(s, 4, flyt_json_str(sess, "agent", ""));
	sqlite3_bind_int64(s, 5, flyt_json_int(sess, "created_ms", 0));
	sqlite3_bind_int64(s, 6, flyt_json_int(sess, "expires_ms", 0));
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "save session");
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

#define SESSION_COLUMNS "id, csrf, peer, agent, created_ms, expires_ms"

static json_t *session_row(sqlite3_stmt *s)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:I, s:I, s:o, s:o}", "id", col_text(s, 0), "csrf", col_text(s, 1),
			 "peer", col_text(s, 2), "agent", col_text(s, 3), "created_ms",
			 (json_int_t)sqlite3_column_int64(s, 4), "expires_ms", (json_int_t)sqlite3_column_int64(s, 5),
			 "created", col_time(s, 4), "expires", col_time(s, 5));
}

json_t *store_session_get(store_t *st, const char *id, int64_t now_ms)
{
	pthread_mutex_lock(&st->lock);
	json_t *sess = NULL;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "SELECT " SESSION_COLUMNS " FROM sessions WHERE id = ? AND expires_ms > ?", &s, NULL) == 0) {
		bind_text(s, 1, id);
		sqlite3_bind_int64(s, 2, now_ms);
		if (sqlite3_step(s) == SQLITE_ROW)
			sess = session_row(s);
	}
	pthread_mutex_unlock(&st->lock);
	return sess;
}

json_t *store_sessions_list(store_t *st, int64_t now_ms)
{
	pthread_mutex_lock(&st->lock);
	json_t *arr = json_array();
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "SELECT " SESSION_COLUMNS " FROM sessions WHERE expires_ms > ? ORDER BY created_ms DESC", &s,
		    NULL) == 0) {
		sqlite3_bind_int64(s, 1, now_ms);
		while (sqlite3_step(s) == SQLITE_ROW)
			json_array_append_new(arr, session_row(s));
	}
	pthread_mutex_unlock(&st->lock);
	return arr;
}

int store_session_delete(store_t *st, const char *id, int64_t *ret_deleted, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "DELETE FROM sessions WHERE ?1 IS NULL OR id = ?1", &s, err) < 0)
		goto out;
	bind_text(s, 1, id);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "delete session");
		goto out;
	}
	if (ret_deleted)
		*ret_deleted = sqlite3_changes(st->db);
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}
