// Command withpg runs a command against a throwaway PostgreSQL cluster:
// `go run ./app/pglocal/withpg -- go test ./...` starts one cluster from the
// machine's binaries, exports TEST_DATABASE_URL, runs the command, stops and
// removes the cluster and exits with the command's status. It is how the
// README's test command gives every test package one shared server.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/perkbridge/perkbridge/app/pglocal"
)

func main() {
	args := os.Args[1:]
	// -durable keeps fsync on: benchmarks compare against commit costs that
	// only mean something on a durable cluster.
	durable := false
	if len(args) > 0 && args[0] == "-durable" {
		durable, args = true, args[1:]
	}
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: withpg -- command [args...]")
		os.Exit(2)
	}
	os.Exit(run(args, durable))
}

func run(args []string, durable bool) int {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "perkbridge-withpg-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "withpg:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	_ = os.Chmod(dir, 0o755)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := pglocal.Start(ctx, pglocal.Options{Dir: dir + "/pg", Database: "perkbridge_test", Fast: !durable, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "withpg:", err)
		return 1
	}
	defer func() { _ = c.Remove(context.Background()) }()
	fmt.Fprintf(os.Stderr, "withpg: PostgreSQL on 127.0.0.1:%d (TEST_DATABASE_URL set, durable=%v)\n", c.Port, durable)

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "TEST_DATABASE_URL="+c.URL)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "withpg:", err)
		return 1
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "withpg:", err)
		return 1
	}
	return 0
}
