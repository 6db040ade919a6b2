package dbustest

import (
	"errors"
	"image/color"
	"reflect"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
)

const wait = 5 * time.Second

// fakeItem is a StatusNotifierItem with a three-entry dbusmenu, exported on a connection of its own
// the way an application does.
type fakeItem struct {
	conn    *dbus.Conn
	props   *prop.Properties
	clicked chan int32 // ids of clicked menu entries
}

const fakeMenuPath = dbus.ObjectPath("/MenuBar")

// solid is a w x h ARGB pixmap of one colour.
func solid(w, h int, c color.NRGBA) pixmap {
	data := make([]byte, 0, w*h*4)
	for range w * h {
		data = append(data, c.A, c.R, c.G, c.B)
	}
	return pixmap{Width: int32(w), Height: int32(h), Data: data}
}

var (
	red   = color.NRGBA{R: 0xff, A: 0xff}
	green = color.NRGBA{G: 0xff, A: 0xff}
)

func exportFakeItem(t *testing.T, bus *Bus, path dbus.ObjectPath) *fakeItem {
	t.Helper()
	conn, err := bus.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	type tooltip struct {
		IconName    string
		Pixmaps     []pixmap
		Title       string
		Description string
	}
	props, err := prop.Export(conn, path, map[string]map[string]*prop.Prop{
		ItemIface: {
			"Title":      {Value: "Stayline", Emit: prop.EmitTrue},
			"Status":     {Value: "Active", Emit: prop.EmitTrue},
			"IconPixmap": {Value: []pixmap{solid(1, 1, green), solid(4, 2, red), solid(2, 2, green)}, Emit: prop.EmitTrue},
			"ToolTip":    {Value: tooltip{Title: "Stayline: home", Description: "registered to 127.0.0.1:5060"}, Emit: prop.EmitTrue},
			"Menu":       {Value: fakeMenuPath, Emit: prop.EmitTrue},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeItem{conn: conn, props: props, clicked: make(chan int32, 10)}
	entry := func(id int32, props map[string]dbus.Variant) dbus.Variant {
		return dbus.MakeVariant(menuLayout{ID: id, Props: props, Children: []dbus.Variant{}})
	}
	root := menuLayout{ID: 0, Props: map[string]dbus.Variant{"children-display": dbus.MakeVariant("submenu")}, Children: []dbus.Variant{
		entry(1, map[string]dbus.Variant{"label": dbus.MakeVariant("Show")}),
		entry(2, map[string]dbus.Variant{"type": dbus.MakeVariant("separator")}),
		entry(3, map[string]dbus.Variant{"label": dbus.MakeVariant("Log off"), "enabled": dbus.MakeVariant(false)}),
		entry(4, map[string]dbus.Variant{"label": dbus.MakeVariant("Hidden"), "visible": dbus.MakeVariant(false)}),
		entry(5, map[string]dbus.Variant{"label": dbus.MakeVariant("Quit")}),
	}}
	err = conn.ExportMethodTable(map[string]any{
		"GetLayout": func(parent, depth int32, names []string) (uint32, menuLayout, *dbus.Error) {
			return 1, root, nil
		},
		"Event": func(id int32, event string, data dbus.Variant, timestamp uint32) *dbus.Error {
			if event == "clicked" {
				f.clicked <- id
			}
			return nil
		},
	}, fakeMenuPath, menuIface)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeItem) register(t *testing.T, service string) {
	t.Helper()
	call := f.conn.Object(WatcherName, WatcherPath).Call(watcherIface+".RegisterStatusNotifierItem", 0, service)
	if call.Err != nil {
		t.Fatalf("register %s: %v", service, call.Err)
	}
}

func (f *fakeItem) setIcon(t *testing.T, path dbus.ObjectPath, p pixmap) {
	t.Helper()
	f.props.SetMust(ItemIface, "IconPixmap", []pixmap{p})
	if err := f.conn.Emit(path, ItemIface+".NewIcon"); err != nil {
		t.Fatal(err)
	}
}

// TestWatcherReadsItemRegisteredByPath registers an item the way fyne.io/systray does (an object path on
// the caller's connection) and reads everything a test of the phone's tray needs from it.
func TestWatcherReadsItemRegisteredByPath(t *testing.T) {
	bus := StartBus(t)
	w := StartWatcher(t, bus)

	host, err := bus.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	registered := make(chan *dbus.Signal, 10)
	host.Signal(registered)
	if err := host.AddMatchSignal(dbus.WithMatchInterface(watcherIface), dbus.WithMatchMember("StatusNotifierItemRegistered")); err != nil {
		t.Fatal(err)
	}

	fake := exportFakeItem(t, bus, DefaultItemPath)
	fake.register(t, string(DefaultItemPath))
	item, err := w.WaitItem(wait)
	if err != nil {
		t.Fatal(err)
	}
	unique := fake.conn.Names()[0]
	if item.Service != unique || item.Owner != unique || item.Path != DefaultItemPath {
		t.Fatalf("item %+v, want service and owner %s at %s", item, unique, DefaultItemPath)
	}
	if want := unique + "/StatusNotifierItem"; item.ID() != want {
		t.Fatalf("item id %q, want %q", item.ID(), want)
	}

	for got := false; !got; {
		select {
		case sig := <-registered:
			if sig.Name != watcherIface+".StatusNotifierItemRegistered" {
				continue // the bus's NameAcquired for the host's own name
			}
			if !reflect.DeepEqual(sig.Body, []any{item.ID()}) {
				t.Fatalf("StatusNotifierItemRegistered %v, want [%s]", sig.Body, item.ID())
			}
			got = true
		case <-time.After(wait):
			t.Fatal("no StatusNotifierItemRegistered signal")
		}
	}
	watcher := host.Object(WatcherName, WatcherPath)
	for name, want := range map[string]any{
		"RegisteredStatusNotifierItems":  []string{item.ID()},
		"IsStatusNotifierHostRegistered": true,
		"ProtocolVersion":                int32(0),
	} {
		v, err := watcher.GetProperty(watcherIface + "." + name)
		if err != nil {
			t.Fatalf("watcher property %s: %v", name, err)
		}
		if !reflect.DeepEqual(v.Value(), want) {
			t.Fatalf("watcher property %s = %#v, want %#v", name, v.Value(), want)
		}
	}

	icon, err := item.Icon()
	if err != nil {
		t.Fatal(err)
	}
	if icon.Width != 4 || icon.Height != 2 || len(icon.ARGB) != 32 {
		t.Fatalf("icon %dx%d with %d bytes, want the largest pixmap, 4x2 with 32 bytes", icon.Width, icon.Height, len(icon.ARGB))
	}
	if got := icon.Image().NRGBAAt(3, 1); got != red {
		t.Fatalf("icon pixel %v, want red", got)
	}
	tip, err := item.ToolTip()
	if err != nil {
		t.Fatal(err)
	}
	if tip.Title != "Stayline: home" || tip.Description != "registered to 127.0.0.1:5060" {
		t.Fatalf("tooltip %+v", tip)
	}
	if title, err := item.Title(); err != nil || title != "Stayline" {
		t.Fatalf("title %q, %v", title, err)
	}
	if status, err := item.Status(); err != nil || status != "Active" {
		t.Fatalf("status %q, %v", status, err)
	}

	labels, err := item.MenuLabels()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Show", "Log off", "Quit"}; !reflect.DeepEqual(labels, want) {
		t.Fatalf("menu labels %q, want %q", labels, want)
	}
	if err := item.ClickMenu("Quit"); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-fake.clicked:
		if id != 5 {
			t.Fatalf("clicked entry %d, want 5 (Quit)", id)
		}
	case <-time.After(wait):
		t.Fatal("the click on Quit did not reach the item")
	}
	for _, label := range []string{"Log off", "Hidden", "Nope"} {
		if err := item.ClickMenu(label); err == nil {
			t.Fatalf("clicking %q (disabled, hidden or missing) succeeded", label)
		}
	}

	fake.setIcon(t, DefaultItemPath, solid(3, 3, green))
	changed, err := item.WaitIconChange(icon.Hash(), wait)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Width != 3 || changed.Image().NRGBAAt(1, 1) != green {
		t.Fatalf("changed icon %v, want 3x3 green", changed)
	}
	// The NewIcon signal reached the watcher (the wait above does not depend on it: it also polls).
	if err := item.WaitFor(wait, func() (bool, error) { return item.NewIconCount() == 1, nil }); err != nil {
		t.Fatalf("NewIcon signals seen: %d: %v", item.NewIconCount(), err)
	}
	if _, err := item.WaitIconChange(changed.Hash(), 300*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("waiting for a change that does not come: %v, want a timeout", err)
	}

	fake.conn.Close()
	if err := item.WaitGone(wait); err != nil {
		t.Fatal(err)
	}
	if items := w.Items(); len(items) != 0 {
		t.Fatalf("items after the application left: %v", items)
	}
	v, err := watcher.GetProperty(watcherIface + ".RegisteredStatusNotifierItems")
	if err != nil || len(v.Value().([]string)) != 0 {
		t.Fatalf("RegisteredStatusNotifierItems after the application left: %v, %v", v, err)
	}
}

// TestWatcherReadsItemRegisteredByName registers the way libappindicator and Qt do: a well-known name,
// the item at /StatusNotifierItem.
func TestWatcherReadsItemRegisteredByName(t *testing.T) {
	bus := StartBus(t)
	w := StartWatcher(t, bus)
	fake := exportFakeItem(t, bus, DefaultItemPath)
	const name = "org.kde.StatusNotifierItem-4242-1"
	if reply, err := fake.conn.RequestName(name, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("request %s: %v, %v", name, reply, err)
	}
	fake.register(t, name)
	fake.register(t, name) // again: still one item
	item, err := w.WaitItem(wait)
	if err != nil {
		t.Fatal(err)
	}
	if item.Service != name || item.Owner != fake.conn.Names()[0] || item.Path != DefaultItemPath {
		t.Fatalf("item %+v, want %s owned by %s", item, name, fake.conn.Names()[0])
	}
	if n := len(w.Items()); n != 1 {
		t.Fatalf("%d items after registering twice, want 1", n)
	}
	if icon, err := item.Icon(); err != nil || icon.Empty() {
		t.Fatalf("icon %v, %v", icon, err)
	}
	if _, err := fake.conn.ReleaseName(name); err != nil {
		t.Fatal(err)
	}
	if err := item.WaitGone(wait); err != nil {
		t.Fatal(err)
	}
}

// TestBusWithoutServices is a desktop with no tray and no notification daemon: calls to them fail at
// once, and nothing is activated to answer them.
func TestBusWithoutServices(t *testing.T) {
	bus := StartBus(t)
	conn, err := bus.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, call := range []*dbus.Call{
		conn.Object(WatcherName, WatcherPath).Call(watcherIface+".RegisterStatusNotifierItem", 0, "/StatusNotifierItem"),
		conn.Object(NotificationsName, NotificationsPath).Call(notificationsIface+".GetCapabilities", 0),
		conn.Object("org.freedesktop.portal.Desktop", "/org/freedesktop/portal/desktop").Call("org.freedesktop.portal.Settings.ReadOne", 0, "org.freedesktop.appearance", "color-scheme"),
	} {
		var dbusErr dbus.Error
		if !errors.As(call.Err, &dbusErr) || dbusErr.Name != "org.freedesktop.DBus.Error.ServiceUnknown" {
			t.Fatalf("%s to %s: %v, want ServiceUnknown", call.Method, call.Destination, call.Err)
		}
	}
	w := StartWatcher(t, bus)
	if _, err := w.WaitItem(100 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("WaitItem with no application: %v, want a timeout", err)
	}
}

func TestBusCloseStopsDaemon(t *testing.T) {
	needDaemon(t)
	b, err := NewBus()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := b.Connect()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case <-conn.Context().Done():
	case <-time.After(wait):
		t.Fatal("connection still open after the bus stopped")
	}
	if _, err := dbus.Connect(b.Address); err == nil {
		t.Fatal("connected to a stopped bus")
	}
}
