package dbustest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// pollInterval is how often a wait re-reads an item that sent no signal, for properties an application
// changes without telling (fyne.io/systray's tooltip, for one, comes with PropertiesChanged only).
const pollInterval = 250 * time.Millisecond

const menuIface = "com.canonical.dbusmenu"

// Item is an application's StatusNotifierItem as the tray sees it: read from the bus each time.
type Item struct {
	// Service is what the application registered: its unique connection name when it registered an
	// object path (fyne.io/systray does), or the well-known name it passed.
	Service string
	// Owner is the unique name of the connection that serves the item.
	Owner string
	// Path is the item's object path.
	Path dbus.ObjectPath

	conn    *dbus.Conn // the watcher's
	changed *broadcast // on every signal of the item
	gone    chan struct{}

	mu       sync.Mutex
	newIcons int
}

// ID is the item as RegisteredStatusNotifierItems lists it: service and path, ":1.7/StatusNotifierItem".
func (i *Item) ID() string {
	return i.Service + string(i.Path)
}

func (i *Item) String() string {
	return "StatusNotifierItem " + i.ID()
}

func (i *Item) signalled(name string) {
	if name == ItemIface+".NewIcon" {
		i.mu.Lock()
		i.newIcons++
		i.mu.Unlock()
	}
	i.changed.fire()
}

// NewIconCount is how many org.kde.StatusNotifierItem.NewIcon signals the item has sent.
func (i *Item) NewIconCount() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.newIcons
}

// Gone is closed when the item leaves the bus (its connection closes, or it drops the name it
// registered).
func (i *Item) Gone() <-chan struct{} {
	return i.gone
}

// WaitGone waits until the item leaves the bus.
func (i *Item) WaitGone(timeout time.Duration) error {
	select {
	case <-i.gone:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%v still on the bus: %w after %v", i, ErrTimeout, timeout)
	}
}

func (i *Item) call(method string, args ...any) *dbus.Call {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	return i.conn.Object(i.Owner, i.Path).CallWithContext(ctx, method, 0, args...)
}

// Property reads one property of org.kde.StatusNotifierItem.
func (i *Item) Property(name string) (dbus.Variant, error) {
	var v dbus.Variant
	if err := i.call(propertiesIface+".Get", ItemIface, name).Store(&v); err != nil {
		return v, fmt.Errorf("%v: read %s: %w", i, name, err)
	}
	return v, nil
}

func (i *Item) property(name string, dst any) error {
	v, err := i.Property(name)
	if err != nil {
		return err
	}
	if err := v.Store(dst); err != nil {
		return fmt.Errorf("%v: %s is %s: %w", i, name, v.Signature(), err)
	}
	return nil
}

// Title is the item's Title property.
func (i *Item) Title() (string, error) {
	var s string
	err := i.property("Title", &s)
	return s, err
}

// Status is the item's Status property: Passive, Active or NeedsAttention.
func (i *Item) Status() (string, error) {
	var s string
	err := i.property("Status", &s)
	return s, err
}

// pixmap is one element of an IconPixmap, D-Bus (iiay).
type pixmap struct {
	Width, Height int32
	Data          []byte
}

// Icon is a tray icon: Width x Height pixels, 4 bytes each, A R G B (network byte order), row by row.
type Icon struct {
	Width, Height int
	ARGB          []byte
}

// Empty reports whether the icon has no pixels.
func (ic Icon) Empty() bool {
	return ic.Width == 0 || ic.Height == 0
}

// Hash identifies the icon's size and pixels (a short hex digest); two icons with the same hash look
// the same.
func (ic Icon) Hash() string {
	h := sha256.New()
	binary.Write(h, binary.BigEndian, [2]int32{int32(ic.Width), int32(ic.Height)})
	h.Write(ic.ARGB)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Image is the icon as an image, for looking at its colours.
func (ic Icon) Image() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, ic.Width, ic.Height))
	for p := 0; p+3 < len(ic.ARGB) && p+3 < len(img.Pix); p += 4 {
		img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = ic.ARGB[p+1], ic.ARGB[p+2], ic.ARGB[p+3], ic.ARGB[p]
	}
	return img
}

func (ic Icon) String() string {
	if ic.Empty() {
		return "no icon"
	}
	return fmt.Sprintf("%dx%d icon %s", ic.Width, ic.Height, ic.Hash())
}

// largestIcon picks the biggest pixmap (a tray offers several sizes), checking its data is the size it
// says.
func largestIcon(pixmaps []pixmap) (Icon, error) {
	var best Icon
	for _, p := range pixmaps {
		if p.Width < 0 || p.Height < 0 || len(p.Data) != int(p.Width)*int(p.Height)*4 {
			return Icon{}, fmt.Errorf("%dx%d pixmap with %d bytes of data", p.Width, p.Height, len(p.Data))
		}
		if int(p.Width)*int(p.Height) > best.Width*best.Height {
			best = Icon{Width: int(p.Width), Height: int(p.Height), ARGB: p.Data}
		}
	}
	return best, nil
}

// Icon is the largest pixmap of the item's IconPixmap property; an Empty icon when it has none.
func (i *Item) Icon() (Icon, error) {
	var pixmaps []pixmap
	if err := i.property("IconPixmap", &pixmaps); err != nil {
		return Icon{}, err
	}
	ic, err := largestIcon(pixmaps)
	if err != nil {
		return Icon{}, fmt.Errorf("%v: IconPixmap: %w", i, err)
	}
	return ic, nil
}

// ToolTip is the item's ToolTip property, D-Bus (sa(iiay)ss).
type ToolTip struct {
	IconName    string
	Title       string
	Description string
}

// ToolTip reads the item's tooltip.
func (i *Item) ToolTip() (ToolTip, error) {
	var raw struct {
		IconName    string
		Pixmaps     []pixmap
		Title       string
		Description string
	}
	if err := i.property("ToolTip", &raw); err != nil {
		return ToolTip{}, err
	}
	return ToolTip{IconName: raw.IconName, Title: raw.Title, Description: raw.Description}, nil
}

// WaitFor re-evaluates cond whenever the item sends a signal (and every pollInterval in case it sends
// none) until cond reports true, cond fails, or timeout passes. cond reads the item's properties.
func (i *Item) WaitFor(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.After(timeout)
	for {
		wake := i.changed.wait()
		done, err := cond()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-wake:
		case <-time.After(pollInterval):
		case <-i.gone:
			return fmt.Errorf("%v left the bus while waited on", i)
		case <-deadline:
			return fmt.Errorf("%v: %w after %v", i, ErrTimeout, timeout)
		}
	}
}

// WaitIconChange waits until the item's icon is not empty and its hash differs from prevHash ("" for
// any icon) and returns it. Only the current icon is seen: of two changes in quick succession, a wait
// may see just the second.
func (i *Item) WaitIconChange(prevHash string, timeout time.Duration) (Icon, error) {
	var last Icon
	err := i.WaitFor(timeout, func() (bool, error) {
		ic, err := i.Icon()
		last = ic
		return err == nil && !ic.Empty() && ic.Hash() != prevHash, err
	})
	if err != nil {
		return last, fmt.Errorf("icon other than %q: %w (now %v)", prevHash, err, last)
	}
	return last, nil
}

// WaitToolTip waits until the item's tooltip satisfies match and returns it.
func (i *Item) WaitToolTip(timeout time.Duration, match func(ToolTip) bool) (ToolTip, error) {
	var last ToolTip
	err := i.WaitFor(timeout, func() (bool, error) {
		tt, err := i.ToolTip()
		last = tt
		return err == nil && match(tt), err
	})
	if err != nil {
		return last, fmt.Errorf("tooltip: %w (now %+v)", err, last)
	}
	return last, nil
}

// Activate is a click on the tray icon (org.kde.StatusNotifierItem.Activate at 0,0).
func (i *Item) Activate() error {
	if err := i.call(ItemIface+".Activate", int32(0), int32(0)).Err; err != nil {
		return fmt.Errorf("%v: Activate: %w", i, err)
	}
	return nil
}

// MenuEntry is one entry of the item's com.canonical.dbusmenu menu.
type MenuEntry struct {
	ID        int32
	Label     string
	Separator bool
	Enabled   bool
	Visible   bool
	Checkable bool // toggle-type checkmark or radio
	Checked   bool // toggle-state 1
	Children  []MenuEntry
}

// menuLayout is a dbusmenu layout node, D-Bus (ia{sv}av).
type menuLayout struct {
	ID       int32
	Props    map[string]dbus.Variant
	Children []dbus.Variant
}

// menuObject is the item's menu: the object at its Menu property.
func (i *Item) menuObject() (dbus.BusObject, error) {
	var path dbus.ObjectPath
	if err := i.property("Menu", &path); err != nil {
		return nil, err
	}
	if !path.IsValid() || path == "/" {
		return nil, fmt.Errorf("%v has no menu (Menu is %q)", i, path)
	}
	return i.conn.Object(i.Owner, path), nil
}

// Menu reads the item's whole menu (com.canonical.dbusmenu GetLayout of the root) and returns the
// root's entries.
func (i *Item) Menu() ([]MenuEntry, error) {
	obj, err := i.menuObject()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var revision uint32
	var root menuLayout
	err = obj.CallWithContext(ctx, menuIface+".GetLayout", 0, int32(0), int32(-1), []string{}).Store(&revision, &root)
	if err != nil {
		return nil, fmt.Errorf("%v: menu %s GetLayout: %w", i, obj.Path(), err)
	}
	entry, err := menuEntry(root)
	if err != nil {
		return nil, fmt.Errorf("%v: menu %s: %w", i, obj.Path(), err)
	}
	return entry.Children, nil
}

func menuEntry(l menuLayout) (MenuEntry, error) {
	e := MenuEntry{ID: l.ID, Enabled: true, Visible: true}
	var kind, toggle string
	var state int32
	for name, dst := range map[string]any{
		"label": &e.Label, "enabled": &e.Enabled, "visible": &e.Visible,
		"type": &kind, "toggle-type": &toggle, "toggle-state": &state,
	} {
		if v, ok := l.Props[name]; ok {
			if err := v.Store(dst); err != nil {
				return e, fmt.Errorf("entry %d: %s is %s: %w", l.ID, name, v.Signature(), err)
			}
		}
	}
	e.Separator = kind == "separator"
	e.Checkable = toggle == "checkmark" || toggle == "radio"
	e.Checked = state == 1
	for _, c := range l.Children {
		var child menuLayout
		if err := c.Store(&child); err != nil {
			return e, fmt.Errorf("entry %d: child is %s: %w", l.ID, c.Signature(), err)
		}
		ce, err := menuEntry(child)
		if err != nil {
			return e, err
		}
		e.Children = append(e.Children, ce)
	}
	return e, nil
}

// visibleEntries lists the visible entries that are not separators, depth first.
func visibleEntries(entries []MenuEntry) []MenuEntry {
	var out []MenuEntry
	for _, e := range entries {
		if !e.Visible {
			continue
		}
		if !e.Separator {
			out = append(out, e)
		}
		out = append(out, visibleEntries(e.Children)...)
	}
	return out
}

// MenuLabels are the labels of the menu's visible entries, separators left out, submenus' entries
// after their parent's.
func (i *Item) MenuLabels() ([]string, error) {
	entries, err := i.Menu()
	if err != nil {
		return nil, err
	}
	var labels []string
	for _, e := range visibleEntries(entries) {
		labels = append(labels, e.Label)
	}
	return labels, nil
}

// ClickMenu clicks the first visible menu entry labelled label (com.canonical.dbusmenu Event
// "clicked"), as a tray does when the user picks it. A disabled entry is an error.
func (i *Item) ClickMenu(label string) error {
	entries, err := i.Menu()
	if err != nil {
		return err
	}
	visible := visibleEntries(entries)
	var labels []string
	for _, e := range visible {
		if e.Label != label {
			labels = append(labels, e.Label)
			continue
		}
		if !e.Enabled {
			return fmt.Errorf("%v: menu entry %q is disabled", i, label)
		}
		obj, err := i.menuObject()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		// As a desktop's menu host does: the menu opens (its root's "opened" event), then the entry is clicked.
		if call := obj.CallWithContext(ctx, menuIface+".Event", 0, int32(0), "opened", dbus.MakeVariant(int32(0)), uint32(time.Now().Unix())); call.Err != nil {
			return fmt.Errorf("%v: open the menu: %w", i, call.Err)
		}
		call := obj.CallWithContext(ctx, menuIface+".Event", 0, e.ID, "clicked", dbus.MakeVariant(int32(0)), uint32(time.Now().Unix()))
		if call.Err != nil {
			return fmt.Errorf("%v: click menu entry %q: %w", i, label, call.Err)
		}
		return nil
	}
	return fmt.Errorf("%v: no menu entry %q (entries: %s)", i, label, strings.Join(quoteAll(labels), ", "))
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
