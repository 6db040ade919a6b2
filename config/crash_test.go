package config

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// The helper process of TestKilledWhileSavingLosesNothing: it saves two configurations in turn, as fast
// as it can, until it is killed.
func TestHelperSaveForever(t *testing.T) {
	path := os.Getenv("STAYLINE_SAVE_FOREVER")
	if path == "" {
		t.Skip("helper process only")
	}
	versions := crashVersions(t)
	fmt.Println("saving") // tells the parent the loop has begun
	for i := 0; ; i++ {
		if err := WriteFileAtomic(path, versions[i%2]); err != nil {
			t.Fatal(err)
		}
	}
}

func crashVersions(t *testing.T) [2][]byte {
	var v [2][]byte
	for i, name := range []string{"Desk A", "Desk B"} {
		cfg := Default()
		cfg.Account = Account{User: "1001", Domain: "example.com", DisplayName: name, Password: "pw"}
		cfg.Servers = []Server{{Name: "home", Address: "192.0.2.1", Transport: TransportUDP}}
		b, err := Marshal(&cfg, true)
		if err != nil {
			t.Fatal(err)
		}
		v[i] = b
	}
	return v
}

// kill -9 in the middle of saving leaves the old file or the new one, whole, never a mix or nothing.
func TestKilledWhileSavingLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	versions := crashVersions(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "phone.toml")
	if err := WriteFileAtomic(path, versions[0]); err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSaveForever$")
		cmd.Env = append(os.Environ(), "STAYLINE_SAVE_FOREVER="+path)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 7)
		if _, err := out.Read(buf); err != nil {
			t.Fatalf("helper did not start: %v", err)
		}
		time.Sleep(time.Duration(1+round%7) * time.Millisecond) // a different point of the loop each round
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
			t.Fatalf("round %d: the file is neither version after kill -9:\n%s", round, got)
		}
		if _, err := Parse(path, got); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Fatalf("round %d: mode %v, want 0600", round, fi.Mode().Perm())
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".phone.toml.*"))
	if err := RemoveLeftovers(path); err != nil {
		t.Fatal(err)
	}
	if still, _ := filepath.Glob(filepath.Join(dir, ".*")); len(still) != 0 {
		t.Fatalf("after RemoveLeftovers: %v", still)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("RemoveLeftovers took the file itself: %v", err)
	}
	t.Logf("FIGURE config.kill9_rounds 20 (file whole every time; %d temporary files left by the kills, removed at the next start)", len(left))
}
