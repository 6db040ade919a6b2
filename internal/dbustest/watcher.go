package dbustest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"
)

// The StatusNotifierWatcher's well-known name, object path and interface, and the item's interface and
// the path an item registered by bus name lives at.
const (
	WatcherName     = "org.kde.StatusNotifierWatcher"
	WatcherPath     = dbus.ObjectPath("/StatusNotifierWatcher")
	watcherIface    = "org.kde.StatusNotifierWatcher"
	ItemIface       = "org.kde.StatusNotifierItem"
	DefaultItemPath = dbus.ObjectPath("/StatusNotifierItem")
)

const (
	busName         = "org.freedesktop.DBus"
	busPath         = dbus.ObjectPath("/org/freedesktop/DBus")
	propertiesIface = "org.freedesktop.DBus.Properties"
	// callTimeout bounds every call this package makes, so a hung application fails a test instead of
	// blocking it.
	callTimeout = 5 * time.Second
)

// Watcher is a fake org.kde.StatusNotifierWatcher: the part of a desktop's tray that applications
// register their StatusNotifierItem with. It also acts as the tray's host, reading the items.
type Watcher struct {
	conn  *dbus.Conn
	props *prop.Properties

	mu      sync.Mutex
	items   []*Item // registered and still on the bus, in the order they registered
	hosts   []string
	changed *broadcast // when items is changed
}

// StartWatcher puts a fake StatusNotifierWatcher on bus until the test ends.
func StartWatcher(t testing.TB, bus *Bus) *Watcher {
	t.Helper()
	return startFor(t, func() (*Watcher, error) { return NewWatcher(bus.Address) })
}

// NewWatcher connects to the bus at address and owns org.kde.StatusNotifierWatcher there. Close
// releases it.
func NewWatcher(address string) (*Watcher, error) {
	return serve(address, "StatusNotifierWatcher", func(conn *dbus.Conn) *Watcher {
		return &Watcher{conn: conn, changed: newBroadcast()}
	})
}

func (w *Watcher) start() error {
	methods := map[string]any{
		"RegisterStatusNotifierItem": w.registerItem,
		"RegisterStatusNotifierHost": w.registerHost,
	}
	if err := w.conn.ExportMethodTable(methods, WatcherPath, watcherIface); err != nil {
		return fmt.Errorf("export methods: %w", err)
	}
	props, err := prop.Export(w.conn, WatcherPath, map[string]map[string]*prop.Prop{
		watcherIface: {
			"RegisteredStatusNotifierItems":  {Value: []string{}, Emit: prop.EmitTrue},
			"IsStatusNotifierHostRegistered": {Value: true, Emit: prop.EmitTrue},
			"ProtocolVersion":                {Value: int32(0), Emit: prop.EmitTrue},
		},
	})
	if err != nil {
		return fmt.Errorf("export properties: %w", err)
	}
	w.props = props
	node := &introspect.Node{
		Name: string(WatcherPath),
		Interfaces: []introspect.Interface{
			introspect.IntrospectData,
			prop.IntrospectData,
			{
				Name: watcherIface,
				Methods: []introspect.Method{
					{Name: "RegisterStatusNotifierItem", Args: []introspect.Arg{{Name: "service", Type: "s", Direction: "in"}}},
					{Name: "RegisterStatusNotifierHost", Args: []introspect.Arg{{Name: "service", Type: "s", Direction: "in"}}},
				},
				Signals: []introspect.Signal{
					{Name: "StatusNotifierItemRegistered", Args: []introspect.Arg{{Type: "s"}}},
					{Name: "StatusNotifierItemUnregistered", Args: []introspect.Arg{{Type: "s"}}},
					{Name: "StatusNotifierHostRegistered"},
				},
				Properties: props.Introspection(watcherIface),
			},
		},
	}
	if err := w.conn.Export(introspect.NewIntrospectable(node), WatcherPath, "org.freedesktop.DBus.Introspectable"); err != nil {
		return fmt.Errorf("export introspection: %w", err)
	}

	// Listen before asking for signals and before taking the name, so nothing an item sends once it
	// sees the watcher is missed: items leaving the bus, and every signal of an item (NewIcon, NewTitle,
	// NewToolTip, NewStatus, and PropertiesChanged, which fyne.io/systray sends for a new tooltip).
	signals := make(chan *dbus.Signal, 64)
	w.conn.Signal(signals)
	go w.dispatch(signals)
	for _, match := range [][]dbus.MatchOption{
		{dbus.WithMatchSender(busName), dbus.WithMatchObjectPath(busPath), dbus.WithMatchInterface(busName), dbus.WithMatchMember("NameOwnerChanged")},
		{dbus.WithMatchInterface(ItemIface)},
		{dbus.WithMatchInterface(propertiesIface), dbus.WithMatchMember("PropertiesChanged"), dbus.WithMatchArg(0, ItemIface)},
	} {
		if err := w.conn.AddMatchSignal(match...); err != nil {
			return fmt.Errorf("subscribe to signals: %w", err)
		}
	}

	reply, err := w.conn.RequestName(WatcherName, dbus.NameFlagDoNotQueue)
	if err != nil {
		return fmt.Errorf("request name %s: %w", WatcherName, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return fmt.Errorf("request name %s: already owned (reply %d)", WatcherName, reply)
	}
	return nil
}

// Close takes the watcher off the bus. Registered items see the name go and, like fyne.io/systray,
// register again with the next watcher.
func (w *Watcher) Close() error {
	return w.conn.Close()
}

// registerItem is RegisterStatusNotifierItem. service is either an object path on the caller's
// connection (what fyne.io/systray sends: "/StatusNotifierItem") or a bus name whose item is at
// /StatusNotifierItem (what libappindicator and Qt send).
func (w *Watcher) registerItem(sender dbus.Sender, service string) *dbus.Error {
	item := &Item{conn: w.conn, changed: newBroadcast(), gone: make(chan struct{})}
	if strings.HasPrefix(service, "/") {
		if !dbus.ObjectPath(service).IsValid() {
			return dbus.MakeFailedError(fmt.Errorf("invalid object path %q", service))
		}
		item.Service, item.Owner, item.Path = string(sender), string(sender), dbus.ObjectPath(service)
	} else {
		owner, err := w.nameOwner(service)
		if err != nil {
			return dbus.MakeFailedError(err)
		}
		item.Service, item.Owner, item.Path = service, owner, DefaultItemPath
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	for _, it := range w.items {
		if it.ID() == item.ID() {
			return nil // registering again (after a watcher restart, say) changes nothing
		}
	}
	w.items = append(w.items, item)
	w.publishLocked()
	if err := w.conn.Emit(WatcherPath, watcherIface+".StatusNotifierItemRegistered", item.ID()); err != nil {
		return dbus.MakeFailedError(fmt.Errorf("emit StatusNotifierItemRegistered: %w", err))
	}
	return nil
}

func (w *Watcher) nameOwner(name string) (string, error) {
	if strings.HasPrefix(name, ":") {
		return name, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var owner string
	err := w.conn.BusObject().CallWithContext(ctx, busName+".GetNameOwner", 0, name).Store(&owner)
	if err != nil {
		return "", fmt.Errorf("owner of %s: %w", name, err)
	}
	return owner, nil
}

// registerHost is RegisterStatusNotifierHost. The watcher already reports a host (itself); it records
// others only so tests can see them.
func (w *Watcher) registerHost(service string) *dbus.Error {
	w.mu.Lock()
	w.hosts = append(w.hosts, service)
	w.mu.Unlock()
	if err := w.conn.Emit(WatcherPath, watcherIface+".StatusNotifierHostRegistered"); err != nil {
		return dbus.MakeFailedError(fmt.Errorf("emit StatusNotifierHostRegistered: %w", err))
	}
	return nil
}

// publishLocked sets RegisteredStatusNotifierItems from w.items and wakes waiters. w.mu is held.
func (w *Watcher) publishLocked() {
	ids := make([]string, len(w.items))
	for i, it := range w.items {
		ids[i] = it.ID()
	}
	w.props.SetMust(watcherIface, "RegisteredStatusNotifierItems", ids)
	w.changed.fire()
}

// dispatch handles the signals the watcher subscribed to until its connection closes.
func (w *Watcher) dispatch(signals <-chan *dbus.Signal) {
	for sig := range signals {
		if sig.Name == busName+".NameOwnerChanged" {
			w.nameOwnerChanged(sig)
			continue
		}
		if item := w.itemAt(sig.Sender, sig.Path); item != nil {
			item.signalled(sig.Name)
		}
	}
}

func (w *Watcher) nameOwnerChanged(sig *dbus.Signal) {
	var name, oldOwner, newOwner string
	if err := dbus.Store(sig.Body, &name, &oldOwner, &newOwner); err != nil || oldOwner == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	kept := w.items[:0]
	var left []*Item
	for _, it := range w.items {
		// An item goes with its connection, or with its well-known name if it registered by name.
		if it.Owner == oldOwner && (name == it.Owner || name == it.Service) {
			left = append(left, it)
			continue
		}
		kept = append(kept, it)
	}
	if len(left) == 0 {
		return
	}
	w.items = kept
	w.publishLocked()
	for _, it := range left {
		close(it.gone)
		// The connection may be closing with the watcher; there is nobody left to tell then.
		_ = w.conn.Emit(WatcherPath, watcherIface+".StatusNotifierItemUnregistered", it.ID())
	}
}

func (w *Watcher) itemAt(sender string, path dbus.ObjectPath) *Item {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, it := range w.items {
		if it.Owner == sender && it.Path == path {
			return it
		}
	}
	return nil
}

// Items are the items registered now, in the order they registered.
func (w *Watcher) Items() []*Item {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*Item(nil), w.items...)
}

// Hosts are the services that called RegisterStatusNotifierHost.
func (w *Watcher) Hosts() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.hosts...)
}

// WaitItem waits until an item is registered and returns the first one registered now.
func (w *Watcher) WaitItem(timeout time.Duration) (*Item, error) {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		wake := w.changed.wait()
		var first *Item
		if len(w.items) > 0 {
			first = w.items[0]
		}
		w.mu.Unlock()
		if first != nil {
			return first, nil
		}
		select {
		case <-wake:
		case <-deadline:
			return nil, fmt.Errorf("no StatusNotifierItem registered with the watcher: %w after %v", ErrTimeout, timeout)
		}
	}
}

// broadcast wakes every waiter at once: wait returns a channel that the next fire closes.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func newBroadcast() *broadcast {
	return &broadcast{ch: make(chan struct{})}
}

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *broadcast) fire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.ch)
	b.ch = make(chan struct{})
}

// ErrTimeout is wrapped by the errors of the Wait methods when their time runs out.
var ErrTimeout = errors.New("timed out")
