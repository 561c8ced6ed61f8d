#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro casting -1 to a function pointer; Swift cannot import it.
static inline sqlite3_destructor_type aegis_sqlite_transient(void) { return SQLITE_TRANSIENT; }

// sqlite3_db_config is variadic; Swift cannot call it directly.
// Closing a WAL database normally checkpoints it (and syncs the file); every
// gated command closes its connection, so leave checkpoints to the periodic
// automatic ones instead of paying one per command.
static inline int aegis_sqlite_no_checkpoint_on_close(sqlite3 *db) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
}

// Each gated command is a short-lived process with its own connection, and
// WAL recovery on open reads every frame in the WAL; so keep the WAL short:
// after a commit that leaves `frames` (64 for a command) or more, checkpoint
// and truncate it. A supervisor writing a row per nested exec allows more
// and truncates when it is done.
// A busy checkpoint is skipped (a later commit retries); it waits briefly at
// most, so an open reader never stalls a command.
static void aegis_checkpoint(sqlite3 *db, const char *name, int mode) {
    sqlite3_busy_timeout(db, 50);
    sqlite3_wal_checkpoint_v2(db, name, mode, (int *)0, (int *)0);
    sqlite3_busy_timeout(db, 10000);
}

static int aegis_wal_hook(void *limit, sqlite3 *db, const char *name, int frames) {
    if (frames >= (int)(long)limit) aegis_checkpoint(db, name, SQLITE_CHECKPOINT_TRUNCATE);
    return SQLITE_OK;
}

// A supervisor's connection: checkpoint without truncating, so the next
// commits rewrite the log's blocks from the start instead of growing the file
// again (extending a file costs more than overwriting it).
static int aegis_wal_hook_reuse(void *limit, sqlite3 *db, const char *name, int frames) {
    if (frames >= (int)(long)limit) aegis_checkpoint(db, name, SQLITE_CHECKPOINT_PASSIVE);
    return SQLITE_OK;
}

static inline void aegis_sqlite_install_wal_hook(sqlite3 *db, int frames, int reuse) {
    sqlite3_wal_hook(db, reuse ? aegis_wal_hook_reuse : aegis_wal_hook, (void *)(long)frames);
}

static inline void aegis_sqlite_truncate_wal(sqlite3 *db) {
    aegis_checkpoint(db, "main", SQLITE_CHECKPOINT_TRUNCATE);
}
