/* SQLite store of the controller. */
#include "controller/store.h"

#include <ctype.h>
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
	/* energy-aware placement (issue 6): a host's area, power model and drain
	 * flag as the operator set them; policy settings; the cache of fetched
	 * signal samples; every decision with its explanation; holds after failed
	 * policy migrations; energy totals per host and workload */
	"ALTER TABLE hosts ADD COLUMN area TEXT;"
	"ALTER TABLE hosts ADD COLUMN idle_watts REAL;"
	"ALTER TABLE hosts ADD COLUMN max_watts REAL;"
	"ALTER TABLE hosts ADD COLUMN drain INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE settings ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL);"
	"CREATE TABLE signal_samples ("
	"  area TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  t_ms INTEGER NOT NULL,"
	"  value REAL NOT NULL,"
	"  step_ms INTEGER NOT NULL,"
	"  source TEXT NOT NULL,"
	"  fetched_ms INTEGER NOT NULL,"
	"  PRIMARY KEY (area, kind, t_ms)) WITHOUT ROWID;"
	"CREATE TABLE decisions ("
	"  id TEXT PRIMARY KEY,"
	"  time_ms INTEGER NOT NULL,"
	"  policy_ms INTEGER NOT NULL,"
	"  workload TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  code TEXT NOT NULL,"
	"  host TEXT, target TEXT,"
	"  reason TEXT NOT NULL,"
	"  detail TEXT NOT NULL,"
	"  migration TEXT);"
	"CREATE INDEX decisions_workload ON decisions(workload, time_ms);"
	"CREATE INDEX decisions_time ON decisions(time_ms);"
	"CREATE TABLE workload_policy ("
	"  workload TEXT PRIMARY KEY,"
	"  failures INTEGER NOT NULL DEFAULT 0,"
	"  hold_until_ms INTEGER,"
	"  reason TEXT);"
	"CREATE TABLE energy_totals ("
	"  scope TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  energy_wh REAL NOT NULL DEFAULT 0,"
	"  co2_g REAL NOT NULL DEFAULT 0,"
	"  cost REAL NOT NULL DEFAULT 0,"
	"  co2_wh REAL NOT NULL DEFAULT 0,"
	"  cost_wh REAL NOT NULL DEFAULT 0,"
	"  since_ms INTEGER NOT NULL,"
	"  PRIMARY KEY (scope, name));",
	/* web UI sessions (src/controller/session.c) */
	"CREATE TABLE sessions ("
	"  id TEXT PRIMARY KEY,"
	"  csrf TEXT NOT NULL,"
	"  peer TEXT NOT NULL DEFAULT '',"
	"  agent TEXT NOT NULL DEFAULT '',"
	"  created_ms INTEGER NOT NULL,"
	"  expires_ms INTEGER NOT NULL);"
	"CREATE INDEX sessions_expires ON sessions(expires_ms);",
	/* TLS (src/controller/pki.c): join tokens for agent enrolment, stored as the
	 * SHA-256 of their secret; and the role of a browser session */
	"CREATE TABLE join_tokens ("
	"  id TEXT PRIMARY KEY,"
	"  secret_sha256 TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  expires_ms INTEGER NOT NULL,"
	"  uses INTEGER NOT NULL DEFAULT 0);"
	"ALTER TABLE sessions ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';",
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

/* Prepares sql, binds key to its one "?" and steps to its first row: the
 * statement, on that row, or NULL when there is none (or it failed). The caller
 * holds st->lock and finalizes the statement before letting go of it. */
static sqlite3_stmt *first_row(store_t *st, const char *sql, const char *key)
{
	sqlite3_stmt *s = NULL;
	if (prepare(st, sql, &s, NULL) < 0)
		return NULL;
	bind_text(s, 1, key);
	if (sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
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
	" (SELECT count(*) FROM workloads w WHERE w.host = h.name),"                          \
	" h.area, h.idle_watts, h.max_watts, h.drain"

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
	/* the operator's area (flyt host set) wins over the agent's --area */
	json_t *agent_area = json_object_get(facts, "area");
	bool set_area = sqlite3_column_type(s, 9) != SQLITE_NULL;
	json_t *area = set_area ? col_text(s, 9) : json_is_string(agent_area) ? json_incref(agent_area) : json_null();
	if (json_is_string(area)) {
		char up[64];
		snprintf(up, sizeof(up), "%s", json_string_value(area));
		for (char *c = up; *c; c++)
			*c = (char)toupper((unsigned char)*c);
		json_decref(area);
		area = json_string(up);
	}
	json_object_set_new(h, "area", area);
	json_object_set_new(h, "area_source",
			    json_string(set_area		     ? "set"
					: json_is_string(agent_area) ? "agent"
								     : "none"));
	json_t *power = json_object();
	json_object_set_new(power, "idle_watts",
			    sqlite3_column_type(s, 10) == SQLITE_NULL ? json_null()
								      : json_real(sqlite3_column_double(s, 10)));
	json_object_set_new(power, "max_watts",
			    sqlite3_column_type(s, 11) == SQLITE_NULL ? json_null()
								      : json_real(sqlite3_column_double(s, 11)));
	json_object_set_new(h, "power", power);
	json_object_set_new(h, "drain", json_boolean(sqlite3_column_int(s, 12)));
	json_object_set_new(h, "cpus", json_incref(json_object_get(json_object_get(facts, "cpu"), "count")));
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
	sqlite3_stmt *s = first_row(st, "SELECT " HOST_COLUMNS " FROM hosts h WHERE h.name = ?", name);
	json_t *h = s ? host_row(s, true) : NULL;
	sqlite3_finalize(s);
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
	static const char *const live[] = { "pid",   "rss_bytes", "cpu_percent", "cpu_seconds", "processes",
					    "error", "copies",	  "serial_log",	 NULL };
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
	sqlite3_stmt *s =
	    first_row(st,
		      "SELECT max(w.created_ms, coalesce((SELECT max(coalesce(m.finished_ms, m.created_ms))"
		      " FROM migrations m WHERE m.workload = w.name), 0)) FROM workloads w WHERE w.name = ?",
		      name);
	int64_t t = s ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return t;
}

json_t *store_workload_get(store_t *st, const char *name)
{
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = first_row(st, "SELECT " WORKLOAD_COLUMNS " FROM workloads WHERE name = ?", name);
	json_t *w = s ? workload_row(s) : NULL;
	sqlite3_finalize(s);
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
	/* a later workload of the same name starts without its holds */
	exec(st, "DELETE FROM workload_policy WHERE workload NOT IN (SELECT name FROM workloads)", NULL);
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
	static const char *const keys[] = { "total_ms",	   "downtime_ms",     "bytes",	  "images_bytes", "dump_ms",
					    "transfer_ms", "restore_ms",      "pages_ms", "phase_ms",	  "passes",
					    "dirty_rate",  "remaining_bytes", NULL };
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
	sqlite3_stmt *s = first_row(st, "SELECT " MIGRATION_COLUMNS " FROM migrations WHERE id = ?", id);
	json_t *m = s ? migration_row(s) : NULL;
	sqlite3_finalize(s);
	_cleanup_stmt_ sqlite3_stmt *j = NULL;
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

/* ---- energy-aware placement ---- */

int store_host_set(store_t *st, const char *name, json_t *changes, flyt_error_t *err)
{
	static const struct {
		const char *key, *sql;
	} fields[] = {
		{ "area", "UPDATE hosts SET area = ?2 WHERE name = ?1" },
		{ "idle_watts", "UPDATE hosts SET idle_watts = ?2 WHERE name = ?1" },
		{ "max_watts", "UPDATE hosts SET max_watts = ?2 WHERE name = ?1" },
		{ "drain", "UPDATE hosts SET drain = ?2 WHERE name = ?1" },
	};
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *q = NULL;
	if (prepare(st, "SELECT 1 FROM hosts WHERE name = ?", &q, err) < 0)
		goto out;
	bind_text(q, 1, name);
	if (sqlite3_step(q) != SQLITE_ROW) {
		flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no host %s", name);
		goto out;
	}
	if (exec(st, "BEGIN IMMEDIATE", err) < 0)
		goto out;
	for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
		json_t *v = json_object_get(changes, fields[i].key);
		if (!v)
			continue;
		_cleanup_stmt_ sqlite3_stmt *s = NULL;
		if (prepare(st, fields[i].sql, &s, err) < 0) {
			exec(st, "ROLLBACK", NULL);
			goto out;
		}
		bind_text(s, 1, name);
		if (json_is_string(v))
			bind_text(s, 2, json_string_value(v));
		else if (json_is_boolean(v))
			sqlite3_bind_int(s, 2, json_is_true(v));
		else if (json_is_number(v))
			sqlite3_bind_double(s, 2, json_number_value(v));
		else
			sqlite3_bind_null(s, 2);
		if (sqlite3_step(s) != SQLITE_DONE) {
			sql_fail(st, err, "update host");
			exec(st, "ROLLBACK", NULL);
			goto out;
		}
	}
	if (exec(st, "COMMIT", err) < 0)
		goto out;
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

int store_workload_set_auto(store_t *st, const char *name, bool on, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "UPDATE workloads SET auto_migrate = ?2 WHERE name = ?1", &s, err) < 0)
		goto out;
	bind_text(s, 1, name);
	sqlite3_bind_int(s, 2, on);
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

json_t *store_setting_get(store_t *st, const char *key)
{
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = first_row(st, "SELECT value FROM settings WHERE key = ?", key);
	const char *t = s ? (const char *)sqlite3_column_text(s, 0) : NULL;
	json_t *v = t ? json_loads(t, 0, NULL) : NULL;
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return v;
}

int store_setting_put(store_t *st, const char *key, json_t *value, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
		    &s, err) < 0)
		goto out;
	bind_text(s, 1, key);
	bind_json(s, 2, value);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "save setting");
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

int store_signals_put(store_t *st, const energy_set_t *set, const char *source, int64_t now_ms, int64_t keep_after_ms,
		      flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL, *prune = NULL;
	if (exec(st, "BEGIN IMMEDIATE", err) < 0)
		goto out;
	if (prepare(st,
		    "INSERT OR REPLACE INTO signal_samples (area, kind, t_ms, value, step_ms, source, fetched_ms)"
		    " VALUES (?, ?, ?, ?, ?, ?, ?)",
		    &s, err) < 0)
		goto fail;
	for (size_t k = 0; k < set->n; k++) {
		const energy_series_t *ser = set->series[k];
		for (size_t i = 0; i < ser->n; i++) {
			sqlite3_reset(s);
			bind_text(s, 1, ser->area);
			bind_text(s, 2, energy_kind_name(ser->kind));
			sqlite3_bind_int64(s, 3, ser->s[i].t_ms);
			sqlite3_bind_double(s, 4, ser->s[i].v);
			sqlite3_bind_int64(s, 5, ser->step_ms);
			bind_text(s, 6, source);
			sqlite3_bind_int64(s, 7, now_ms);
			if (sqlite3_step(s) != SQLITE_DONE) {
				sql_fail(st, err, "save signal sample");
				goto fail;
			}
		}
	}
	if (prepare(st, "DELETE FROM signal_samples WHERE t_ms < ?", &prune, err) < 0)
		goto fail;
	sqlite3_bind_int64(prune, 1, keep_after_ms);
	if (sqlite3_step(prune) != SQLITE_DONE) {
		sql_fail(st, err, "prune signal samples");
		goto fail;
	}
	if (exec(st, "COMMIT", err) < 0)
		goto fail;
	r = 0;
	goto out;
fail:
	exec(st, "ROLLBACK", NULL);
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

int store_signals_load(store_t *st, int64_t since_ms, energy_set_t *set, flyt_error_t *err)
{
	energy_set_t tmp = ENERGY_SET_INIT;
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "SELECT area, kind, t_ms, value, step_ms FROM signal_samples WHERE t_ms >= ?", &s, err) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, since_ms);
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *area = (const char *)sqlite3_column_text(s, 0);
		energy_kind_t k = energy_kind_from_name((const char *)sqlite3_column_text(s, 1));
		if (!area || !energy_area_valid(area) || k == ENERGY_KIND_INVALID)
			continue;
		energy_set_append(&tmp, area, k, sqlite3_column_int64(s, 4), sqlite3_column_int64(s, 2),
				  sqlite3_column_double(s, 3));
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	if (r == 0 && energy_set_finish(&tmp, err) < 0)
		r = -1;
	if (r == 0)
		energy_set_merge(set, &tmp);
	energy_set_free(&tmp);
	return r;
}

#define DECISIONS_KEPT 20000

int store_decision_add(store_t *st, json_t *d, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL, *trim = NULL;
	if (prepare(
		st,
		"INSERT INTO decisions (id, time_ms, policy_ms, workload, action, code, host, target, reason, detail,"
		" migration) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		&s, err) < 0)
		goto out;
	bind_text(s, 1, flyt_json_str(d, "id", NULL));
	sqlite3_bind_int64(s, 2, flyt_json_int(d, "time_ms", 0));
	sqlite3_bind_int64(s, 3, flyt_json_int(d, "policy_ms", 0));
	bind_text(s, 4, flyt_json_str(d, "workload", ""));
	bind_text(s, 5, flyt_json_str(d, "action", ""));
	bind_text(s, 6, flyt_json_str(d, "code", ""));
	bind_text(s, 7, flyt_json_str(d, "host", NULL));
	bind_text(s, 8, flyt_json_str(d, "target", NULL));
	bind_text(s, 9, flyt_json_str(d, "reason", ""));
	bind_json(s, 10, json_object_get(d, "detail"));
	bind_text(s, 11, flyt_json_str(d, "migration", NULL));
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "save decision");
		goto out;
	}
	if (sqlite3_last_insert_rowid(st->db) % 500 == 0 &&
	    prepare(st,
		    "DELETE FROM decisions WHERE time_ms < (SELECT time_ms FROM decisions ORDER BY time_ms DESC"
		    " LIMIT 1 OFFSET ?)",
		    &trim, NULL) == 0) {
		sqlite3_bind_int(trim, 1, DECISIONS_KEPT);
		sqlite3_step(trim);
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

static json_t *decision_row(sqlite3_stmt *s, bool full)
{
	json_t *d = json_object();
	json_object_set_new(d, "id", col_text(s, 0));
	json_object_set_new(d, "time", col_time(s, 1));
	char when[40];
	flyt_format_time(sqlite3_column_int64(s, 2), when, sizeof(when));
	json_object_set_new(d, "policy_time", json_string(when));
	json_object_set_new(d, "workload", col_text(s, 3));
	json_object_set_new(d, "action", col_text(s, 4));
	json_object_set_new(d, "code", col_text(s, 5));
	json_object_set_new(d, "host", col_text(s, 6));
	json_object_set_new(d, "target", col_text(s, 7));
	json_object_set_new(d, "reason", col_text(s, 8));
	json_object_set_new(d, "migration", col_text(s, 10));
	json_t *detail = col_json(s, 9);
	if (full) {
		json_object_set(d, "detail", detail);
	} else {
		/* the short form: what was compared and saved */
		static const char *const keys[] = { "area",	  "target_area", "policy", "signal", "unit",
						    "value_here", "value_there", "gain",   "saving", NULL };
		for (const char *const *k = keys; *k; k++)
			if (json_object_get(detail, *k))
				json_object_set(d, *k, json_object_get(detail, *k));
	}
	json_decref(detail);
	return d;
}

#define DECISION_COLUMNS "id, time_ms, policy_ms, workload, action, code, host, target, reason, detail, migration"

json_t *store_decisions_list(store_t *st, const char *workload, const char *action, int64_t limit, int64_t offset,
			     int64_t *ret_total)
{
	static const char *const where = " WHERE (?1 IS NULL OR workload = ?1) AND (?2 IS NULL OR action = ?2)";
	pthread_mutex_lock(&st->lock);
	json_t *arr = json_array();
	_cleanup_free_ char *sql = flyt_asprintf(
	    "SELECT " DECISION_COLUMNS " FROM decisions%s ORDER BY time_ms DESC, rowid DESC LIMIT ?3 OFFSET ?4", where);
	_cleanup_free_ char *count_sql = flyt_asprintf("SELECT count(*) FROM decisions%s", where);
	_cleanup_stmt_ sqlite3_stmt *s = NULL, *c = NULL;
	if (prepare(st, sql, &s, NULL) == 0 && prepare(st, count_sql, &c, NULL) == 0) {
		sqlite3_stmt *both[2] = { s, c };
		for (int i = 0; i < 2; i++) {
			bind_text(both[i], 1, workload);
			bind_text(both[i], 2, action);
		}
		sqlite3_bind_int64(s, 3, limit);
		sqlite3_bind_int64(s, 4, offset);
		while (sqlite3_step(s) == SQLITE_ROW)
			json_array_append_new(arr, decision_row(s, false));
		if (ret_total)
			*ret_total = sqlite3_step(c) == SQLITE_ROW ? sqlite3_column_int64(c, 0) : 0;
	}
	pthread_mutex_unlock(&st->lock);
	return arr;
}

json_t *store_decision_get(store_t *st, const char *id)
{
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = first_row(st, "SELECT " DECISION_COLUMNS " FROM decisions WHERE id = ?", id);
	json_t *d = s ? decision_row(s, true) : NULL;
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return d;
}

json_t *store_holds(store_t *st)
{
	pthread_mutex_lock(&st->lock);
	json_t *out = json_object();
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "SELECT workload, failures, hold_until_ms, reason FROM workload_policy", &s, NULL) == 0)
		while (sqlite3_step(s) == SQLITE_ROW)
			json_object_set_new(out, (const char *)sqlite3_column_text(s, 0),
					    json_pack("{s:I, s:o, s:o}", "failures",
						      (json_int_t)sqlite3_column_int64(s, 1), "hold_until_ms",
						      sqlite3_column_type(s, 2) == SQLITE_NULL
							  ? json_null()
							  : json_integer(sqlite3_column_int64(s, 2)),
						      "reason", col_text(s, 3)));
	pthread_mutex_unlock(&st->lock);
	return out;
}

int store_hold_fail(store_t *st, const char *workload, int64_t hold_until_ms, const char *reason, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL, *q = NULL;
	if (prepare(st,
		    "INSERT INTO workload_policy (workload, failures, hold_until_ms, reason) VALUES (?1, 1, ?2, ?3)"
		    " ON CONFLICT(workload) DO UPDATE SET failures = failures + 1, hold_until_ms = ?2, reason = ?3",
		    &s, err) < 0)
		goto out;
	bind_text(s, 1, workload);
	sqlite3_bind_int64(s, 2, hold_until_ms);
	bind_text(s, 3, reason);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "save hold");
		goto out;
	}
	if (prepare(st, "SELECT failures FROM workload_policy WHERE workload = ?", &q, err) < 0)
		goto out;
	bind_text(q, 1, workload);
	r = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : 1;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

int store_hold_clear(store_t *st, const char *workload, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "DELETE FROM workload_policy WHERE workload = ?", &s, err) < 0)
		goto out;
	bind_text(s, 1, workload);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "clear hold");
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

json_t *store_last_moves(store_t *st)
{
	pthread_mutex_lock(&st->lock);
	json_t *out = json_object();
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "SELECT workload, max(finished_ms) FROM migrations WHERE state = 'committed' GROUP BY workload",
		    &s, NULL) == 0)
		while (sqlite3_step(s) == SQLITE_ROW)
			json_object_set_new(out, (const char *)sqlite3_column_text(s, 0),
					    json_integer(sqlite3_column_int64(s, 1)));
	pthread_mutex_unlock(&st->lock);
	return out;
}

int64_t store_policy_migrations_since(store_t *st, int64_t created_ms)
{
	pthread_mutex_lock(&st->lock);
	int64_t n = 0;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st,
		    "SELECT count(*) FROM migrations WHERE created_ms >= ?"
		    " AND json_extract(options, '$.origin.policy') IS NOT NULL",
		    &s, NULL) == 0) {
		sqlite3_bind_int64(s, 1, created_ms);
		if (sqlite3_step(s) == SQLITE_ROW)
			n = sqlite3_column_int64(s, 0);
	}
	pthread_mutex_unlock(&st->lock);
	return n;
}

json_t *store_migrations_finished_since(store_t *st, int64_t finished_ms)
{
	pthread_mutex_lock(&st->lock);
	json_t *arr = json_array();
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st,
		    "SELECT id, workload, state, error, finished_ms, json_extract(options, '$.origin') FROM migrations"
		    " WHERE finished_ms > ? ORDER BY finished_ms, rowid",
		    &s, NULL) == 0) {
		sqlite3_bind_int64(s, 1, finished_ms);
		while (sqlite3_step(s) == SQLITE_ROW)
			json_array_append_new(arr, json_pack("{s:o, s:o, s:o, s:o, s:I, s:o}", "id", col_text(s, 0),
							     "workload", col_text(s, 1), "state", col_text(s, 2),
							     "error", col_text(s, 3), "finished_ms",
							     (json_int_t)sqlite3_column_int64(s, 4), "origin",
							     col_json(s, 5)));
	}
	pthread_mutex_unlock(&st->lock);
	return arr;
}

int store_energy_add(store_t *st, json_t *items, int64_t now_ms, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (exec(st, "BEGIN IMMEDIATE", err) < 0)
		goto out;
	if (prepare(st,
		    "INSERT INTO energy_totals (scope, name, energy_wh, co2_g, cost, co2_wh, cost_wh, since_ms)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(scope, name) DO UPDATE SET"
		    " energy_wh = energy_wh + ?3, co2_g = co2_g + ?4, cost = cost + ?5, co2_wh = co2_wh + ?6,"
		    " cost_wh = cost_wh + ?7",
		    &s, err) < 0) {
		exec(st, "ROLLBACK", NULL);
		goto out;
	}
	size_t i;
	json_t *it;
	json_array_foreach (items, i, it) {
		sqlite3_reset(s);
		bind_text(s, 1, flyt_json_str(it, "scope", "host"));
		bind_text(s, 2, flyt_json_str(it, "name", ""));
		static const char *const keys[] = { "energy_wh", "co2_g", "cost", "co2_wh", "cost_wh" };
		for (int k = 0; k < 5; k++)
			sqlite3_bind_double(s, 3 + k, json_number_value(json_object_get(it, keys[k])));
		sqlite3_bind_int64(s, 8, now_ms);
		if (sqlite3_step(s) != SQLITE_DONE) {
			sql_fail(st, err, "save energy totals");
			exec(st, "ROLLBACK", NULL);
			goto out;
		}
	}
	if (exec(st, "COMMIT", err) < 0)
		goto out;
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

json_t *store_energy_totals(store_t *st)
{
	pthread_mutex_lock(&st->lock);
	json_t *out = json_pack("{s:{}, s:{}}", "host", "workload");
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "SELECT scope, name, energy_wh, co2_g, cost, co2_wh, cost_wh, since_ms FROM energy_totals", &s,
		    NULL) == 0)
		while (sqlite3_step(s) == SQLITE_ROW) {
			json_t *scope = json_object_get(out, (const char *)sqlite3_column_text(s, 0));
			if (!scope)
				continue;
			json_object_set_new(scope, (const char *)sqlite3_column_text(s, 1),
					    json_pack("{s:f, s:f, s:f, s:f, s:f, s:o}", "energy_wh",
						      sqlite3_column_double(s, 2), "co2_g", sqlite3_column_double(s, 3),
						      "cost", sqlite3_column_double(s, 4), "co2_wh",
						      sqlite3_column_double(s, 5), "cost_wh",
						      sqlite3_column_double(s, 6), "since", col_time(s, 7)));
		}
	pthread_mutex_unlock(&st->lock);
	return out;
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
	if (prepare(
		st,
		"INSERT INTO sessions (id, csrf, peer, agent, created_ms, expires_ms, role) VALUES (?, ?, ?, ?, ?, ?, ?)",
		&s, err) < 0)
		goto out;
	bind_text(s, 1, flyt_json_str(sess, "id", NULL));
	bind_text(s, 2, flyt_json_str(sess, "csrf", NULL));
	bind_text(s, 3, flyt_json_str(sess, "peer", ""));
	bind_text(s, 4, flyt_json_str(sess, "agent", ""));
	sqlite3_bind_int64(s, 5, flyt_json_int(sess, "created_ms", 0));
	sqlite3_bind_int64(s, 6, flyt_json_int(sess, "expires_ms", 0));
	bind_text(s, 7, flyt_json_str(sess, "role", "admin"));
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "save session");
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

#define SESSION_COLUMNS "id, csrf, peer, agent, created_ms, expires_ms, role"

static json_t *session_row(sqlite3_stmt *s)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:I, s:I, s:o, s:o, s:o}", "id", col_text(s, 0), "csrf", col_text(s, 1),
			 "peer", col_text(s, 2), "agent", col_text(s, 3), "created_ms",
			 (json_int_t)sqlite3_column_int64(s, 4), "expires_ms", (json_int_t)sqlite3_column_int64(s, 5),
			 "created", col_time(s, 4), "expires", col_time(s, 5), "role", col_text(s, 6));
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

/* ---- join tokens ---- */

int store_join_token_add(store_t *st, const char *id, const char *secret_sha256, int64_t created_ms, int64_t expires_ms,
			 flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL, *purge = NULL;
	/* expired tokens go when new ones come */
	if (prepare(st, "DELETE FROM join_tokens WHERE expires_ms <= ?", &purge, err) < 0)
		goto out;
	sqlite3_bind_int64(purge, 1, created_ms);
	sqlite3_step(purge);
	if (prepare(st, "INSERT INTO join_tokens (id, secret_sha256, created_ms, expires_ms) VALUES (?, ?, ?, ?)", &s,
		    err) < 0)
		goto out;
	bind_text(s, 1, id);
	bind_text(s, 2, secret_sha256);
	sqlite3_bind_int64(s, 3, created_ms);
	sqlite3_bind_int64(s, 4, expires_ms);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "save join token");
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

#define JOIN_COLUMNS "id, secret_sha256, created_ms, expires_ms, uses"

static json_t *join_token_row(sqlite3_stmt *s)
{
	return json_pack("{s:o, s:o, s:I, s:I, s:o, s:o, s:I}", "id", col_text(s, 0), "secret_sha256", col_text(s, 1),
			 "created_ms", (json_int_t)sqlite3_column_int64(s, 2), "expires_ms",
			 (json_int_t)sqlite3_column_int64(s, 3), "created", col_time(s, 2), "expires", col_time(s, 3),
			 "uses", (json_int_t)sqlite3_column_int64(s, 4));
}

json_t *store_join_token_use(store_t *st, const char *id, int64_t now_ms)
{
	pthread_mutex_lock(&st->lock);
	json_t *tok = NULL;
	_cleanup_stmt_ sqlite3_stmt *s = NULL, *u = NULL;
	if (prepare(st, "SELECT " JOIN_COLUMNS " FROM join_tokens WHERE id = ? AND expires_ms > ?", &s, NULL) == 0) {
		bind_text(s, 1, id);
		sqlite3_bind_int64(s, 2, now_ms);
		if (sqlite3_step(s) == SQLITE_ROW)
			tok = join_token_row(s);
	}
	if (tok && prepare(st, "UPDATE join_tokens SET uses = uses + 1 WHERE id = ?", &u, NULL) == 0) {
		bind_text(u, 1, id);
		sqlite3_step(u);
	}
	pthread_mutex_unlock(&st->lock);
	return tok;
}

json_t *store_join_tokens_list(store_t *st, int64_t now_ms)
{
	pthread_mutex_lock(&st->lock);
	json_t *arr = json_array();
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "SELECT " JOIN_COLUMNS " FROM join_tokens WHERE expires_ms > ? ORDER BY created_ms DESC", &s,
		    NULL) == 0) {
		sqlite3_bind_int64(s, 1, now_ms);
		while (sqlite3_step(s) == SQLITE_ROW) {
			json_t *row = join_token_row(s);
			json_object_del(row, "secret_sha256");
			json_array_append_new(arr, row);
		}
	}
	pthread_mutex_unlock(&st->lock);
	return arr;
}

int store_join_token_delete(store_t *st, const char *id, int64_t *ret_deleted, flyt_error_t *err)
{
	pthread_mutex_lock(&st->lock);
	int r = -1;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	if (prepare(st, "DELETE FROM join_tokens WHERE id = ?", &s, err) < 0)
		goto out;
	bind_text(s, 1, id);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sql_fail(st, err, "delete join token");
		goto out;
	}
	*ret_deleted = sqlite3_changes(st->db);
	r = 0;
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}
