// Command ferretdb-sqlite runs an embedded FerretDB (MongoDB wire protocol) server
// backed by SQLite files, for local development and integration tests.
//
// FerretDB is embedded through its public package github.com/FerretDB/FerretDB/ferretdb.
// Because the main module is ours (not github.com/FerretDB/FerretDB), FerretDB's
// build/version package skips reading build/version/version.txt, which is what makes
// a plain `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.x` panic at start.
//
// Usage:
//
//	ferretdb-sqlite -listen-addr 127.0.0.1:27017 -sqlite-dir ./data [-log-level error]
//
// It prints "ferretdb ready on ADDR" on stdout once the TCP listener is bound, and
// exits cleanly (status 0) on SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on (host:port)")
	sqliteDir := flag.String("sqlite-dir", "data", "directory for SQLite database files (created if absent)")
	logLevel := flag.String("log-level", "error", "log level: debug, info, warn or error (warn logs every error reply sent to clients)")
	flag.Parse()

	if err := run(*listenAddr, *sqliteDir, *logLevel); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-sqlite: %v\n", err)
		os.Exit(1)
	}
}

func run(listenAddr, sqliteDir, logLevel string) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(logLevel))); err != nil {
		return fmt.Errorf("invalid -log-level %q: %w", logLevel, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	dir, err := filepath.Abs(sqliteDir)
	if err != nil {
		return fmt.Errorf("invalid -sqlite-dir %q: %w", sqliteDir, err)
	}
	if err = os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating -sqlite-dir: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// The SQLite handler expects a directory URI that ends with a slash.
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listenAddr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + filepath.ToSlash(dir) + "/",
	})
	if err != nil {
		return err
	}

	// ferretdb.New has already bound the TCP listener; Run accepts connections.
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	fmt.Printf("ferretdb ready on %s\n", strings.TrimSuffix(strings.TrimPrefix(f.MongoDBURI(), "mongodb://"), "/"))

	err = <-done
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
