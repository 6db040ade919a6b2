package app

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"stayline/contacts"
)

func contactsWindow(t *testing.T, list ...contacts.Contact) (*Window, *fakeController, *contacts.Store) {
	t.Helper()
	store, err := contacts.Open(filepath.Join(t.TempDir(), "contacts.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if err := store.Put(contacts.Contact{}, c); err != nil {
			t.Fatal(err)
		}
	}
	a := test.NewTempApp(t)
	ctl := &fakeController{asked: make(chan string, 16)}
	w := New(a, ctl, ctl, Options{Extension: "1001", Lines: 3, Now: func() time.Time { return t0 }, Contacts: store})
	t.Cleanup(w.Win.Close)
	return w, ctl, store
}

func TestContactsSearchAndDial(t *testing.T) {
	w, ctl, _ := contactsWindow(t, contacts.Contact{Name: "Ann Lee", Number: "1002"},
		contacts.Contact{Name: "Bob Stone", Number: "1005"}, contacts.Contact{Name: "Reception", Number: "1000"})
	v := w.ShowContacts()
	if v.List.Length() != 3 {
		t.Fatalf("%d shown, want 3", v.List.Length())
	}
	test.Type(v.Search, "sto")
	if v.List.Length() != 1 || v.shown[0].Name != "Bob Stone" {
		t.Fatalf("search 'sto' shows %v", v.shown)
	}
	if !v.Dial.Disabled() {
		t.Error("Dial enabled with nothing selected")
	}
	v.List.Select(0)
	test.Tap(v.Dial)
	if got := <-ctl.asked; got != "dial 1005" {
		t.Fatalf("dial asked %q", got)
	}
	// Enter in the search field dials the only match.
	v = w.ShowContacts()
	test.Type(v.Search, "recep")
	v.Search.OnSubmitted(v.Search.Text)
	if got := <-ctl.asked; got != "dial 1000" {
		t.Fatalf("Enter asked %q", got)
	}
}

func TestContactsAddEditDelete(t *testing.T) {
	w, _, store := contactsWindow(t, contacts.Contact{Name: "Ann Lee", Number: "1002"})
	v := w.ShowContacts()
	test.Tap(v.Add)
	test.Type(v.Form.Name, "Bob")
	test.Type(v.Form.Number, "10 05") // not dialable: refused, the form keeps what was typed
	test.Tap(v.Form.Save)
	if !strings.Contains(v.Form.Error.Text, "not a number") || v.Form.Name.Text != "Bob" {
		t.Fatalf("bad number: error %q, name %q", v.Form.Error.Text, v.Form.Name.Text)
	}
	v.Form.Number.SetText("bob@branch.example")
	test.Tap(v.Form.Save)
	if got := store.Search("bob"); len(got) != 1 || got[0].Number != "bob@branch.example" {
		t.Fatalf("after add: %v", got)
	}
	if v.List.Length() != 2 {
		t.Errorf("list not refreshed after add: %d", v.List.Length())
	}

	v.List.Select(0) // Ann Lee
	test.Tap(v.Edit)
	if v.Form.Name.Text != "Ann Lee" {
		t.Fatalf("edit form starts with %q", v.Form.Name.Text)
	}
	v.Form.Number.SetText("1012")
	test.Tap(v.Form.Save)
	if store.NameOf("1012") != "Ann Lee" || store.NameOf("1002") != "" {
		t.Fatal("edit did not change the number")
	}

	v.List.Select(0)
	test.Tap(v.Delete)
	if len(store.Search("")) != 2 {
		t.Fatal("deleted without asking")
	}
	if !strings.Contains(test.RenderObjectToMarkup(w.Win.Canvas().Overlays().Top()), "Delete Ann Lee?") {
		t.Fatal("no confirmation")
	}
}

func TestCallsShowTheContactName(t *testing.T) {
	w, _, _ := contactsWindow(t, contacts.Contact{Name: "Ann Lee", Number: "1002"})
	show(w, "normal", "home", CallView{ID: "c1", State: "incoming", Remote: "1002@127.0.0.1"},
		CallView{ID: "c2", State: "held", Remote: "1009@127.0.0.1"})
	if got := w.Appearances[0].Text; !strings.Contains(got, "Ann Lee (1002)") {
		t.Errorf("appearance %q does not name the contact", got)
	}
	if got := w.Appearances[1].Text; !strings.Contains(got, "1009") || strings.Contains(got, "(") {
		t.Errorf("appearance of a stranger %q", got)
	}
}
