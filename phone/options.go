package phone

import (
	"time"

	"stayline/config"
)

// minRequestTimeout is the least time an in-dialog request waits along the route set before the phone
// tries the far end directly: twice the keep-alive timeout, but not less, so lab timers of a few hundred
// milliseconds do not give up on a loaded machine.
const minRequestTimeout = 500 * time.Millisecond

// ConfigOptions are the agent's options that come from the configuration: account, servers, listen
// address, codecs, security, request timeout. The caller adds what the configuration does not hold (the
// sound engine, the logger, the instance id) and may replace the servers (by those DNS names for them).
// This is the one place the configuration is mapped onto the agent.
func ConfigOptions(cfg *config.Config) Options {
	return Options{
		Account:        cfg.Account,
		Servers:        cfg.Servers,
		Listen:         cfg.SIP.Listen,
		Codecs:         cfg.Audio.Codecs,
		OnlyServers:    cfg.SIP.OnlyServers,
		TLSCA:          cfg.SIP.TLSCA,
		SRTP:           SRTPMode(cfg.Audio.SRTP),
		RequestTimeout: max(2*cfg.Failover.KeepaliveTimeout.D(), minRequestTimeout),
		STUN:           cfg.NAT.STUN,
	}
}
