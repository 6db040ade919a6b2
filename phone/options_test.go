package phone

import (
	"testing"
	"time"

	"stayline/config"
)

func TestConfigOptionsMapTheConfiguration(t *testing.T) {
	cfg := config.Default()
	cfg.Account = config.Account{User: "1001", Password: "pw", Domain: "example.com"}
	cfg.Servers = []config.Server{{Name: "home", Address: "127.0.0.1:5060", Transport: config.TransportTCP}}
	cfg.SIP.Listen, cfg.SIP.OnlyServers, cfg.SIP.TLSCA = "127.0.0.1:0", true, "ca.pem"
	cfg.Audio.Codecs, cfg.Audio.SRTP = []string{"PCMA"}, "require"
	cfg.Failover.KeepaliveTimeout = config.Duration(2 * time.Second)
	o := ConfigOptions(&cfg)
	if o.Account != cfg.Account || len(o.Servers) != 1 || o.Listen != "127.0.0.1:0" || !o.OnlyServers ||
		o.TLSCA != "ca.pem" || o.Codecs[0] != "PCMA" || o.SRTP != SRTPRequire || o.RequestTimeout != 4*time.Second {
		t.Fatalf("options %+v", o)
	}
	cfg.Failover.KeepaliveTimeout = config.Duration(100 * time.Millisecond)
	if got := ConfigOptions(&cfg).RequestTimeout; got != minRequestTimeout {
		t.Fatalf("request timeout %s for a 100 ms keep-alive timeout, want the %s floor", got, minRequestTimeout)
	}
}
