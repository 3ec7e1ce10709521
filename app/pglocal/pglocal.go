// Package pglocal starts and stops a private PostgreSQL cluster from the
// binaries installed on the machine, so that the app and its tests need no
// database server set up by hand. When the process runs as root it runs
// PostgreSQL as the "postgres" user, because initdb and postgres refuse root.
package pglocal

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options configure a cluster.
type Options struct {
	// Dir holds the cluster (PGDATA). It is created when missing.
	Dir string
	// Database is created when missing and named in URL (default "perkbridge").
	Database string
	// Fast trades durability for speed (fsync off): for throwaway test
	// clusters only, never for the app's own data.
	Fast bool
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
}

// Cluster is a running local PostgreSQL.
type Cluster struct {
	Dir     string
	Port    int
	URL     string // postgres://postgres@127.0.0.1:PORT/DB?sslmode=disable
	bin     string
	cred    *syscall.Credential
	started bool // false when an already running cluster was reused
	logger  *slog.Logger
}

// ErrNoBinaries is returned when no PostgreSQL server binaries are found.
var ErrNoBinaries = errors.New("pglocal: no PostgreSQL server binaries found (looked in PATH, `pg_config --bindir` and /usr/lib/postgresql/*/bin); install them, e.g. `apt-get install postgresql` on Debian or Ubuntu, `brew install postgresql` on macOS, or set DATABASE_URL to an existing server")

// FindBinDir returns the directory holding initdb, pg_ctl and postgres.
func FindBinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		// A link in PATH (Debian's /usr/local/bin/pg_ctl) points into the
		// real bin folder, which also has pg_dump and the rest.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if hasServer(dir) {
			return dir, nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if hasServer(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Highest major version first.
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if hasServer(d) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func hasServer(dir string) bool {
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.IsDir() {
			return false
		}
	}
	return true
}

// Start initializes the cluster in opts.Dir when needed, starts it on a free
// loopback port (or reuses it when it is already running) and makes sure the
// database exists.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Database == "" {
		opts.Database = "perkbridge"
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	c := &Cluster{Dir: dir, bin: bin, logger: logger}
	if os.Geteuid() == 0 {
		cred, err := postgresUser()
		if err != nil {
			return nil, err
		}
		c.cred = cred
		if !traversable(filepath.Dir(dir), cred) {
			// The postgres user cannot reach a folder under a private home
			// directory; keep the cluster in a stable place it can reach.
			alt := filepath.Join(os.TempDir(), "perkbridge-pg-"+strconv.FormatUint(fnv(dir), 16))
			logger.Warn("postgres user cannot reach the data folder; using a folder under the system temp directory", "wanted", dir, "using", alt)
			c.Dir = alt
		}
	}
	if err := makeClusterDir(c.Dir, c.cred); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		logger.Info("initializing local PostgreSQL cluster", "dir", c.Dir, "bin", bin)
		if out, err := c.run(ctx, "initdb", "-D", c.Dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-instructions"); err != nil {
			return nil, fmt.Errorf("pglocal: initdb: %w: %s", err, out)
		}
	}
	if port, ok := c.runningPort(ctx); ok {
		c.Port = port
		logger.Info("reusing running local PostgreSQL", "dir", c.Dir, "port", port)
	} else {
		if err := c.start(ctx, opts.Fast, 0); err != nil {
			return nil, err
		}
	}
	c.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, opts.Database)
	if err := c.ensureDatabase(ctx, opts.Database); err != nil {
		_ = c.Stop(context.Background())
		return nil, err
	}
	return c, nil
}

// start starts the server on port, or on a free one when port is 0.
func (c *Cluster) start(ctx context.Context, fast bool, port int) error {
	if port == 0 {
		p, err := freePort()
		if err != nil {
			return err
		}
		port = p
	}
	c.Port = port
	settings := []string{
		"-c listen_addresses=127.0.0.1",
		fmt.Sprintf("-c port=%d", port),
		"-c unix_socket_directories=''",
		"-c max_connections=300",
		"-c shared_buffers=128MB",
	}
	if fast {
		settings = append(settings, "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")
	}
	logFile := filepath.Join(c.Dir, "postgres.log")
	c.logger.Info("starting local PostgreSQL", "dir", c.Dir, "port", port)
	if out, err := c.run(ctx, "pg_ctl", "-D", c.Dir, "-l", logFile, "-o", strings.Join(settings, " "), "-w", "-t", "60", "start"); err != nil {
		tail, _ := os.ReadFile(logFile)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("pglocal: pg_ctl start: %w: %s\n%s", err, out, tail)
	}
	c.started = true
	return nil
}

// runningPort reports the port of a server already running on this cluster.
func (c *Cluster) runningPort(ctx context.Context) (int, bool) {
	b, err := os.ReadFile(filepath.Join(c.Dir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, false
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err != nil {
		return 0, false
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port))
	if err != nil {
		return 0, false
	}
	_ = conn.Close(ctx)
	return port, true
}

func (c *Cluster) ensureDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port))
	if err != nil {
		return fmt.Errorf("pglocal: connect: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("pglocal: check database: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return fmt.Errorf("pglocal: create database: %w", err)
		}
	}
	return nil
}

// AdminURL is the URL of the cluster's maintenance database.
func (c *Cluster) AdminURL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
}

// Stop stops the server if this process started it; a reused server is left
// running for whoever started it.
func (c *Cluster) Stop(ctx context.Context) error {
	if c == nil || !c.started {
		return nil
	}
	c.started = false
	if out, err := c.run(ctx, "pg_ctl", "-D", c.Dir, "-m", "fast", "-w", "stop"); err != nil {
		return fmt.Errorf("pglocal: pg_ctl stop: %w: %s", err, out)
	}
	return nil
}

// StartAgain starts a cluster this process stopped with Stop on the port
// it had, so connection strings already handed out work again (the fault
// matrix stops and starts the database under running processes). fast is
// as Options.Fast.
func (c *Cluster) StartAgain(ctx context.Context, fast bool) error {
	if c.started {
		return errors.New("pglocal: cluster is running")
	}
	return c.start(ctx, fast, c.Port)
}

// Remove stops the server and deletes the cluster folder (test clusters).
func (c *Cluster) Remove(ctx context.Context) error {
	err := c.Stop(ctx)
	return errors.Join(err, os.RemoveAll(c.Dir))
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = "/"
	// The server must outlive this process's signal group being interrupted
	// mid-start, and must run as postgres when we are root.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pglocal: running as root, PostgreSQL must run as the \"postgres\" user, which does not exist (create it with `useradd --system postgres`, or run as a normal user): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// traversable reports whether uid can reach dir through every ancestor.
func traversable(dir string, cred *syscall.Credential) bool {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			// Missing folders are created by root with 0755 by MkdirAll's
			// parent, so only check those that exist.
			if d == filepath.Dir(d) {
				return true
			}
			continue
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		mode := st.Mode().Perm()
		switch {
		case ok && sys.Uid == cred.Uid:
			if mode&0o100 == 0 {
				return false
			}
		case ok && sys.Gid == cred.Gid:
			if mode&0o010 == 0 {
				return false
			}
		default:
			if mode&0o001 == 0 {
				return false
			}
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

// makeClusterDir creates dir and any missing parent. As root, every folder
// it creates is handed to the user PostgreSQL runs as (cred), so that user
// can reach its cluster: a parent made 0700 by root, as MkdirAll would,
// locks it out ("initdb: could not access directory").
func makeClusterDir(dir string, cred *syscall.Credential) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("pglocal: create %s: %w", d, err)
		}
		if cred != nil {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return fmt.Errorf("pglocal: chown %s: %w", d, err)
			}
		}
	}
	if cred != nil {
		// The cluster folder itself may predate this run (an earlier
		// run as another user); initdb needs to own it.
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pglocal: chown %s: %w", dir, err)
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pglocal: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func fnv(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// LogTail returns the last lines of the server log, for error messages.
func (c *Cluster) LogTail(n int) string {
	f, err := os.Open(filepath.Join(c.Dir, "postgres.log"))
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
