package dbustest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
)

// The notification daemon's well-known name, object path and interface (Desktop Notifications
// Specification 1.2).
const (
	NotificationsName  = "org.freedesktop.Notifications"
	NotificationsPath  = dbus.ObjectPath("/org/freedesktop/Notifications")
	notificationsIface = "org.freedesktop.Notifications"
)

// closedByCall is the NotificationClosed reason for a CloseNotification call.
const closedByCall = uint32(3)

// Notification is one Notify call the fake daemon received.
type Notification struct {
	ID         uint32 // the id Notify returned
	ReplacesID uint32
	AppName    string
	AppIcon    string
	Summary    string // what Fyne calls the notification's Title
	Body       string // Fyne's Content
	Actions    []string
	Hints      map[string]dbus.Variant
	Timeout    int32 // expire_timeout in milliseconds, -1 for the server's default
	Sender     string
	Time       time.Time
}

// Notifications is a fake notification daemon: it records every notification instead of showing it.
type Notifications struct {
	conn *dbus.Conn

	mu      sync.Mutex
	list    []Notification
	lastID  uint32
	changed *broadcast // when list grows
}

// StartNotifications puts a fake notification daemon on bus until the test ends.
func StartNotifications(t testing.TB, bus *Bus) *Notifications {
	t.Helper()
	return startFor(t, func() (*Notifications, error) { return NewNotifications(bus.Address) })
}

// NewNotifications connects to the bus at address and owns org.freedesktop.Notifications there. Close
// releases it.
func NewNotifications(address string) (*Notifications, error) {
	return serve(address, "notification daemon", func(conn *dbus.Conn) *Notifications {
		return &Notifications{conn: conn, changed: newBroadcast()}
	})
}

func (n *Notifications) start() error {
	methods := map[string]any{
		"Notify":               n.notify,
		"GetCapabilities":      n.capabilities,
		"GetServerInformation": n.serverInformation,
		"CloseNotification":    n.closeNotification,
	}
	if err := n.conn.ExportMethodTable(methods, NotificationsPath, notificationsIface); err != nil {
		return fmt.Errorf("export methods: %w", err)
	}
	node := &introspect.Node{
		Name:       string(NotificationsPath),
		Interfaces: []introspect.Interface{introspect.IntrospectData, notificationsIntrospection},
	}
	if err := n.conn.Export(introspect.NewIntrospectable(node), NotificationsPath, "org.freedesktop.DBus.Introspectable"); err != nil {
		return fmt.Errorf("export introspection: %w", err)
	}
	reply, err := n.conn.RequestName(NotificationsName, dbus.NameFlagDoNotQueue)
	if err != nil {
		return fmt.Errorf("request name %s: %w", NotificationsName, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return fmt.Errorf("request name %s: already owned (reply %d)", NotificationsName, reply)
	}
	return nil
}

var notificationsIntrospection = introspect.Interface{
	Name: notificationsIface,
	Methods: []introspect.Method{
		{Name: "Notify", Args: []introspect.Arg{
			{Name: "app_name", Type: "s", Direction: "in"},
			{Name: "replaces_id", Type: "u", Direction: "in"},
			{Name: "app_icon", Type: "s", Direction: "in"},
			{Name: "summary", Type: "s", Direction: "in"},
			{Name: "body", Type: "s", Direction: "in"},
			{Name: "actions", Type: "as", Direction: "in"},
			{Name: "hints", Type: "a{sv}", Direction: "in"},
			{Name: "expire_timeout", Type: "i", Direction: "in"},
			{Name: "id", Type: "u", Direction: "out"},
		}},
		{Name: "GetCapabilities", Args: []introspect.Arg{{Name: "capabilities", Type: "as", Direction: "out"}}},
		{Name: "GetServerInformation", Args: []introspect.Arg{
			{Name: "name", Type: "s", Direction: "out"},
			{Name: "vendor", Type: "s", Direction: "out"},
			{Name: "version", Type: "s", Direction: "out"},
			{Name: "spec_version", Type: "s", Direction: "out"},
		}},
		{Name: "CloseNotification", Args: []introspect.Arg{{Name: "id", Type: "u", Direction: "in"}}},
	},
	Signals: []introspect.Signal{
		{Name: "NotificationClosed", Args: []introspect.Arg{{Name: "id", Type: "u"}, {Name: "reason", Type: "u"}}},
		{Name: "ActionInvoked", Args: []introspect.Arg{{Name: "id", Type: "u"}, {Name: "action_key", Type: "s"}}},
	},
}

// Close takes the daemon off the bus.
func (n *Notifications) Close() error {
	return n.conn.Close()
}

// notify is org.freedesktop.Notifications.Notify.
func (n *Notifications) notify(sender dbus.Sender, appName string, replacesID uint32, appIcon, summary, body string,
	actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	id := replacesID
	if id == 0 || id > n.lastID {
		n.lastID++
		id = n.lastID
	}
	n.list = append(n.list, Notification{
		ID: id, ReplacesID: replacesID, AppName: appName, AppIcon: appIcon, Summary: summary, Body: body,
		Actions: actions, Hints: hints, Timeout: timeout, Sender: string(sender), Time: time.Now(),
	})
	n.changed.fire()
	return id, nil
}

func (n *Notifications) capabilities() ([]string, *dbus.Error) {
	return []string{"body", "actions"}, nil
}

func (n *Notifications) serverInformation() (name, vendor, version, specVersion string, err *dbus.Error) {
	return "stayline-dbustest", "Stayline", "1.0", "1.2", nil
}

func (n *Notifications) closeNotification(id uint32) *dbus.Error {
	if err := n.conn.Emit(NotificationsPath, notificationsIface+".NotificationClosed", id, closedByCall); err != nil {
		return dbus.MakeFailedError(fmt.Errorf("emit NotificationClosed: %w", err))
	}
	return nil
}

// List is every notification received so far, oldest first.
func (n *Notifications) List() []Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Notification(nil), n.list...)
}

// Wait waits until at least count notifications have arrived and returns them all. On timeout it
// returns those that did arrive with the error.
func (n *Notifications) Wait(count int, timeout time.Duration) ([]Notification, error) {
	var got []Notification
	err := n.waitFor(timeout, func(list []Notification) bool {
		got = list
		return len(list) >= count
	})
	if err != nil {
		return got, fmt.Errorf("%d notifications: %w (received %d: %s)", count, err, len(got), summaries(got))
	}
	return got, nil
}

// WaitFor waits for a notification that satisfies match (one received before the call counts) and
// returns the first such.
func (n *Notifications) WaitFor(timeout time.Duration, match func(Notification) bool) (Notification, error) {
	var found Notification
	var all []Notification
	err := n.waitFor(timeout, func(list []Notification) bool {
		all = list
		for _, nt := range list {
			if match(nt) {
				found = nt
				return true
			}
		}
		return false
	})
	if err != nil {
		return found, fmt.Errorf("matching notification: %w (received %d: %s)", err, len(all), summaries(all))
	}
	return found, nil
}

func (n *Notifications) waitFor(timeout time.Duration, done func([]Notification) bool) error {
	deadline := time.After(timeout)
	for {
		n.mu.Lock()
		wake := n.changed.wait()
		list := append([]Notification(nil), n.list...)
		n.mu.Unlock()
		if done(list) {
			return nil
		}
		select {
		case <-wake:
		case <-deadline:
			return fmt.Errorf("%w after %v", ErrTimeout, timeout)
		}
	}
}

func summaries(list []Notification) string {
	if len(list) == 0 {
		return "none"
	}
	s := ""
	for i, nt := range list {
		if i > 0 {
			s += "; "
		}
		s += fmt.Sprintf("%q: %q", nt.Summary, nt.Body)
	}
	return s
}
