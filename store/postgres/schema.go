package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// schemaFiles are the schema's versions: schema/NNNN_name.sql is version NNNN,
// applied in order, each once. A file is never changed once released; a new
// version is a new file.
//
//go:embed schema/*.sql
var schemaFiles embed.FS

// schemaLock is the key of the transaction-level advisory lock under which
// Open reads the schema's version and applies what is missing, so that of
// several instances starting at once exactly one applies a version.
const schemaLock int64 = 0x67675f736368656d // "gg_schem"

// migration is one schema file.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the schema files, oldest first.
func migrations() ([]migration, error) {
	names, err := fs.Glob(schemaFiles, "schema/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("guestgate store: schema file %s is not named NNNN_name.sql", base)
		}
		b, err := schemaFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	return out, nil
}

// migrate brings the database's schema to the newest version this package
// knows, in one transaction under schemaLock, and refuses a database whose
// schema is newer than that.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	known := ms[len(ms)-1].version
	var applied []string
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", schemaLock); err != nil {
			return err
		}
		current := 0
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass('gg_schema') IS NOT NULL").Scan(&exists); err != nil {
			return err
		}
		if exists {
			if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM gg_schema").Scan(&current); err != nil {
				return err
			}
		}
		if current > known {
			return fmt.Errorf("guestgate store: the database's schema is version %d, newer than this guestgate knows (%d): "+
				"upgrade guestgate, or give it another database", current, known)
		}
		for _, m := range ms {
			if m.version <= current {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("applying schema %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO gg_schema (version) VALUES ($1)", m.version); err != nil {
				return err
			}
			applied = append(applied, m.name)
		}
		return nil
	})
	if err != nil {
		if fromDB(err) {
			return s.dbError(ctx, "applying the schema", err)
		}
		return err
	}
	for _, name := range applied {
		s.log.Info("applied the database schema", "file", name)
	}
	return nil
}
