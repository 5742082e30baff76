// Command layer1-ferretdb runs FerretDB v1 embedded, on SQLite files, as Layer 1's
// MongoDB-compatible store. The stock `ferretdb` binary built by `go install`
// panics at start for want of its generated version file; embedding the library
// package avoids that and lets us pin the version in go.mod.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (loopback by default)")
	dataDir := flag.String("data-dir", "", "directory for the SQLite database files (required)")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn, error")
	flag.Parse()

	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "layer1-ferretdb: --data-dir is required")
		os.Exit(2)
	}
	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		log.Fatalf("layer1-ferretdb: %v", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		log.Fatalf("layer1-ferretdb: cannot create data dir: %v", err)
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		log.Fatalf("layer1-ferretdb: bad --log-level: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Handler:  "sqlite",
		// The trailing slash matters: FerretDB treats the URL as a directory of per-database files.
		SQLiteURL: "file:" + abs + "/",
		Logger:    logger,
	})
	if err != nil {
		log.Fatalf("layer1-ferretdb: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	log.Printf("layer1-ferretdb: listening on %s, data in %s", *listen, abs)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatalf("layer1-ferretdb: %v", err)
	}
	log.Printf("layer1-ferretdb: stopped")
}
