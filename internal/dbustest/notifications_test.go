package dbustest

import (
	"errors"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// sendLikeFyne is fyne.io/fyne/v2/app's SendNotification on Linux (app/app_xdg.go, without -tags
// flatpak), call for call: Notify with the app's unique id, no replaces id, the cached icon path, title
// and content, no actions, no hints, timeout 0.
func sendLikeFyne(conn *dbus.Conn, appID, appIcon, title, content string) *dbus.Call {
	obj := conn.Object("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
	return obj.Call("org.freedesktop.Notifications.Notify", 0, appID, uint32(0),
		appIcon, title, content, []string{}, map[string]dbus.Variant{}, int32(0))
}

func TestNotificationsRecordsWhatFyneSends(t *testing.T) {
	bus := StartBus(t)
	notes := StartNotifications(t, bus)
	app, err := bus.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()

	before := time.Now()
	call := sendLikeFyne(app, "net.stayline.phone", "/root/.cache/fyne/net.stayline.phone/icon.png", "Failover", "Now on alternate 127.0.0.1:5070")
	var id uint32
	if err := call.Store(&id); err != nil {
		t.Fatal(err)
	}
	if id != 1 {
		t.Fatalf("first notification id %d, want 1", id)
	}
	got, err := notes.Wait(1, wait)
	if err != nil {
		t.Fatal(err)
	}
	n := got[0]
	if n.ID != 1 || n.AppName != "net.stayline.phone" || n.AppIcon != "/root/.cache/fyne/net.stayline.phone/icon.png" ||
		n.Summary != "Failover" || n.Body != "Now on alternate 127.0.0.1:5070" || n.Timeout != 0 || n.ReplacesID != 0 ||
		len(n.Actions) != 0 || len(n.Hints) != 0 || n.Sender != app.Names()[0] || n.Time.Before(before) {
		t.Fatalf("recorded %+v", n)
	}

	go func() {
		time.Sleep(50 * time.Millisecond)
		sendLikeFyne(app, "net.stayline.phone", "", "Failback", "Home 127.0.0.1:5060 is back")
	}()
	back, err := notes.WaitFor(wait, func(n Notification) bool { return n.Summary == "Failback" })
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != 2 || back.Body != "Home 127.0.0.1:5060 is back" {
		t.Fatalf("second notification %+v", back)
	}
	if list := notes.List(); len(list) != 2 || list[0].Summary != "Failover" || list[1].Summary != "Failback" {
		t.Fatalf("list %+v", list)
	}
	got, err = notes.Wait(3, 200*time.Millisecond)
	if !errors.Is(err, ErrTimeout) || len(got) != 2 {
		t.Fatalf("waiting for a third: %d, %v; want the two and a timeout", len(got), err)
	}

	// Replacing keeps the id and is recorded as a notification of its own.
	replace := app.Object(NotificationsName, NotificationsPath).Call(notificationsIface+".Notify", 0, "x", uint32(2), "", "Failback", "again", []string{}, map[string]dbus.Variant{}, int32(-1))
	if err := replace.Store(&id); err != nil || id != 2 {
		t.Fatalf("replacing 2: id %d, %v", id, err)
	}

	daemon := app.Object(NotificationsName, NotificationsPath)
	var caps []string
	if err := daemon.Call(notificationsIface+".GetCapabilities", 0).Store(&caps); err != nil || len(caps) == 0 || caps[0] != "body" {
		t.Fatalf("capabilities %q, %v", caps, err)
	}
	var name, vendor, version, spec string
	if err := daemon.Call(notificationsIface+".GetServerInformation", 0).Store(&name, &vendor, &version, &spec); err != nil || spec != "1.2" {
		t.Fatalf("server information %q %q %q %q, %v", name, vendor, version, spec, err)
	}
	closed := make(chan *dbus.Signal, 1)
	app.Signal(closed)
	if err := app.AddMatchSignal(dbus.WithMatchInterface(notificationsIface), dbus.WithMatchMember("NotificationClosed")); err != nil {
		t.Fatal(err)
	}
	if err := daemon.Call(notificationsIface+".CloseNotification", 0, uint32(1)).Err; err != nil {
		t.Fatal(err)
	}
	for got := false; !got; {
		select {
		case sig := <-closed:
			if sig.Name != notificationsIface+".NotificationClosed" {
				continue
			}
			if len(sig.Body) != 2 || sig.Body[0] != uint32(1) || sig.Body[1] != closedByCall {
				t.Fatalf("NotificationClosed %v", sig.Body)
			}
			got = true
		case <-time.After(wait):
			t.Fatal("no NotificationClosed")
		}
	}
}
