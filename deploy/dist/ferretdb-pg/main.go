// Command ferretdb-pg runs FerretDB v1.24 embedded, on the PostgreSQL backend, as the
// MongoDB-compatible store of the distributed deployment (deploy/dist/store.sh). The same go.mod and
// go.sum as stack/ferretdb, Layer 1's embedded store on SQLite: one FerretDB version, another handler.
// Several instances may share one PostgreSQL database (FerretDB v1 keeps no state of its own).
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	pgURL := flag.String("postgresql-url", os.Getenv("FERRETDB_POSTGRESQL_URL"), "PostgreSQL URL (or env FERRETDB_POSTGRESQL_URL)")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn, error")
	flag.Parse()
	if *pgURL == "" {
		log.Fatal("ferretdb-pg: --postgresql-url (or FERRETDB_POSTGRESQL_URL) is required")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		log.Fatalf("ferretdb-pg: bad --log-level: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: *listen},
		Handler:       "postgresql",
		PostgreSQLURL: *pgURL,
		Logger:        logger,
	})
	if err != nil {
		log.Fatalf("ferretdb-pg: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Printf("ferretdb-pg: listening on %s", *listen)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatalf("ferretdb-pg: %v", err)
	}
}
