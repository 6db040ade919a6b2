package failover

import (
	"time"

	"stayline/config"
)

// mwiExpires is how long a message-summary subscription lasts; it is refreshed at four fifths of it.
const mwiExpires = time.Hour

// followMWI keeps the message-waiting lamp to the §2 table: live on the server in use when it offers
// MWI (normal, alternate), cleared in transition, failback and noservice.
func (m *Manager) followMWI() {
	want := -1
	if (m.stage == StageNormal || m.stage == StageAlternate) && m.active >= 0 &&
		m.servers[m.active].cfg.Offers(config.FeatureMWI) && !m.closing {
		want = m.active
	}
	if want == m.mwiServer {
		return
	}
	if old := m.mwiServer; old >= 0 {
		m.background(func() func() {
			m.agent.UnsubscribeMWI(m.ctx, old) // best effort: the server may be the one that died
			return func() {}
		})
	}
	if m.mwiRefresh != nil {
		m.mwiRefresh.Stop()
		m.mwiRefresh = nil
	}
	if m.mwiWaiting {
		m.mwiWaiting = false
		m.emit("mwi", &MWIEvent{Waiting: false, Server: ""})
	}
	m.mwiServer = want
	if want >= 0 {
		m.subscribeMWI(want)
	}
}

func (m *Manager) subscribeMWI(server int) {
	m.background(func() func() {
		err := m.agent.SubscribeMWI(m.ctx, server, mwiExpires)
		return func() {
			if err != nil {
				m.log.Info("message waiting unavailable", "server", m.servers[server].cfg.Name, "error", err)
			}
			if m.mwiServer == server {
				m.mwiRefresh = m.after(mwiExpires*4/5, func() {
					if m.mwiServer == server {
						m.subscribeMWI(server)
					}
				})
			}
		}
	})
}
