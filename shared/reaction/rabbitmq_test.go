package reaction

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/workerfleet/workerfleet/shared/dev/childproc"
)

// The tests that need a RabbitMQ server share one, started on first use from
// Debian's rabbitmq-server package: a private node on 127.0.0.1 (its own epmd,
// node name, ports and data under a temporary directory), stopped by TestMain.
// Without the package they skip, unless WORKERFLEET_REQUIRE_RABBITMQ=1 (CI).

var rabbit struct {
	once sync.Once
	url  string
	err  error
	stop func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if rabbit.stop != nil {
		rabbit.stop()
	}
	os.Exit(code)
}

// rabbitServer returns the AMQP URL (guest's, on 127.0.0.1) of the shared server.
func rabbitServer(t *testing.T) string {
	t.Helper()
	bin := "/usr/lib/rabbitmq/bin/rabbitmq-server" // Debian's, without the wrapper that switches user
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("rabbitmq-server"); err != nil {
			bin = ""
		}
	}
	epmd, _ := exec.LookPath("epmd")
	if bin == "" || epmd == "" {
		if os.Getenv("WORKERFLEET_REQUIRE_RABBITMQ") == "1" {
			t.Fatal("rabbitmq-server (and epmd) not found, and WORKERFLEET_REQUIRE_RABBITMQ=1: apt-get install -y rabbitmq-server")
		}
		t.Skip("rabbitmq-server is not installed (apt-get install -y rabbitmq-server); set WORKERFLEET_REQUIRE_RABBITMQ=1 to fail instead")
	}
	rabbit.once.Do(func() { rabbit.url, rabbit.stop, rabbit.err = startRabbit(bin, epmd) })
	if rabbit.err != nil {
		t.Fatalf("starting RabbitMQ: %v", rabbit.err)
	}
	return rabbit.url
}

func startRabbit(bin, epmdBin string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "workerfleet-rabbitmq-")
	if err != nil {
		return "", nil, err
	}
	var ports [3]int
	for i := range ports {
		if ports[i], err = childproc.FreePort(); err != nil {
			return "", nil, err
		}
	}
	amqpPort, distPort, epmdPort := ports[0], ports[1], ports[2]
	var procs []*exec.Cmd
	stop := func() {
		for i := len(procs) - 1; i >= 0; i-- {
			p := procs[i].Process
			_ = syscall.Kill(-p.Pid, syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = procs[i].Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
				<-done
			}
		}
		os.RemoveAll(dir)
	}
	env := append(os.Environ(),
		"HOME="+dir, // the Erlang cookie
		"ERL_EPMD_ADDRESS=127.0.0.1", fmt.Sprintf("ERL_EPMD_PORT=%d", epmdPort),
	)
	tail := childproc.NewTail(4096)
	ep := exec.Command(epmdBin, "-address", "127.0.0.1", "-port", fmt.Sprint(epmdPort))
	ep.Env, ep.Stdout, ep.Stderr, ep.SysProcAttr = env, tail, tail, childproc.Attrs()
	if err := ep.Start(); err != nil {
		stop()
		return "", nil, fmt.Errorf("epmd: %w", err)
	}
	procs = append(procs, ep)
	plugins := filepath.Join(dir, "enabled_plugins")
	if err := os.WriteFile(plugins, []byte("[].\n"), 0o600); err != nil {
		stop()
		return "", nil, err
	}
	envConf := filepath.Join(dir, "rabbitmq-env.conf")
	if err := os.WriteFile(envConf, nil, 0o600); err != nil {
		stop()
		return "", nil, err
	}
	env = append(env,
		fmt.Sprintf("RABBITMQ_NODENAME=wftest%d@localhost", amqpPort),
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1", fmt.Sprintf("RABBITMQ_NODE_PORT=%d", amqpPort),
		fmt.Sprintf("RABBITMQ_DIST_PORT=%d", distPort),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"), "RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq"), "RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(dir, "advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+plugins, "RABBITMQ_CONF_ENV_FILE="+envConf,
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "rabbitmq.pid"),
	)
	rs := exec.Command(bin)
	rs.Dir, rs.Env, rs.Stdout, rs.Stderr, rs.SysProcAttr = dir, env, tail, tail, childproc.Attrs()
	if err := rs.Start(); err != nil {
		stop()
		return "", nil, fmt.Errorf("rabbitmq-server: %w", err)
	}
	procs = append(procs, rs)
	exited := make(chan struct{})
	go func() { _, _ = rs.Process.Wait(); close(exited) }()
	url := fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", amqpPort)
	deadline := time.Now().Add(90 * time.Second)
	for {
		conn, err := amqp.Dial(url)
		if err == nil {
			conn.Close()
			return url, stop, nil
		}
		select {
		case <-exited:
			stop()
			return "", nil, fmt.Errorf("rabbitmq-server exited: %s", tail)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("rabbitmq-server did not accept connections within 90s: %s", tail)
		}
	}
}

// publisher publishes as the queue service does: to its topic exchanges.
type publisher struct {
	t  *testing.T
	ch *amqp.Channel
}

func newPublisher(t *testing.T, url string) *publisher {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range []string{ExchangePending, ExchangeRunning} {
		if err := ch.ExchangeDeclare(ex, "topic", true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	return &publisher{t: t, ch: ch}
}

// publish sends a message about task taskID's run 0 for pool "prov/wt", with its
// primary routing key.
func (p *publisher) publish(exchange, poolKey, taskID string) {
	p.t.Helper()
	prov, wt, _ := strings.Cut(poolKey, "/")
	worker := "_._"
	if exchange == ExchangeRunning {
		worker = "wg.w1"
	}
	key := fmt.Sprintf("primary.%s.0.%s.%s.%s.sched.group.", taskID, worker, prov, wt)
	err := p.ch.PublishWithContext(context.Background(), exchange, key, false, false,
		amqp.Publishing{ContentType: "application/json", Body: []byte(`{"status":{"taskId":"` + taskID + `"}}`)})
	if err != nil {
		p.t.Fatal(err)
	}
}

// proxy forwards 127.0.0.1 connections to target until Down is called; Up
// accepts them again. It stands for the network between a listener and Pulse.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.Down() })
	go p.serve()
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// Down cuts every connection and refuses new ones.
func (p *proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Up accepts connections again.
func (p *proxy) Up() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
