package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"stayline/contacts"
)

// ContactStore is the local directory the window shows; *contacts.Store implements it.
type ContactStore interface {
	Search(query string) []contacts.Contact
	Put(old, c contacts.Contact) error
	Remove(c contacts.Contact) error
	NameOf(number string) string
}

// ContactsView is the directory dialog's content. Its fields are exported for tests.
type ContactsView struct {
	Search *widget.Entry
	List   *widget.List
	Dial   *widget.Button
	Add    *widget.Button
	Edit   *widget.Button
	Delete *widget.Button
	Form   *ContactForm // the add/edit form while it is open

	shown    []contacts.Contact
	selected int
}

// ContactForm is the add/edit form.
type ContactForm struct {
	Name, Number *widget.Entry
	Save         *widget.Button
	Error        *widget.Label
}

// ShowContacts opens the directory: type to search by name or number, Dial calls the selected contact.
func (w *Window) ShowContacts() *ContactsView {
	store := w.opts.Contacts
	v := &ContactsView{selected: -1}
	v.Search = widget.NewEntry()
	v.Search.SetPlaceHolder("Search names and numbers")
	v.List = widget.NewList(func() int { return len(v.shown) },
		func() fyne.CanvasObject { return widget.NewLabel("") },
		func(i widget.ListItemID, o fyne.CanvasObject) {
			o.(*widget.Label).SetText(v.shown[i].Name + "   " + v.shown[i].Number)
		})
	var d dialog.Dialog
	refresh := func() {
		v.shown = store.Search(v.Search.Text)
		v.selected = -1
		v.List.UnselectAll()
		v.List.Refresh()
		for _, b := range []*widget.Button{v.Dial, v.Edit, v.Delete} {
			b.Disable()
		}
	}
	selectedContact := func() (contacts.Contact, bool) {
		if v.selected < 0 || v.selected >= len(v.shown) {
			return contacts.Contact{}, false
		}
		return v.shown[v.selected], true
	}
	v.Dial = widget.NewButtonWithIcon("Dial", theme.MailForwardIcon(), func() {
		if c, ok := selectedContact(); ok {
			d.Hide()
			w.dial(c.Number)
		}
	})
	v.Add = widget.NewButtonWithIcon("Add", theme.ContentAddIcon(), func() {
		v.Form = w.contactForm(store, contacts.Contact{}, refresh)
	})
	v.Edit = widget.NewButtonWithIcon("Edit", theme.DocumentCreateIcon(), func() {
		if c, ok := selectedContact(); ok {
			v.Form = w.contactForm(store, c, refresh)
		}
	})
	v.Delete = widget.NewButtonWithIcon("Delete", theme.DeleteIcon(), func() {
		c, ok := selectedContact()
		if !ok {
			return
		}
		dialog.ShowConfirm("Delete "+c.Name+"?", c.Name+"   "+c.Number, func(yes bool) {
			if !yes {
				return
			}
			if err := store.Remove(c); err != nil {
				dialog.ShowError(err, w.Win)
			}
			refresh()
		}, w.Win)
	})
	v.List.OnSelected = func(i widget.ListItemID) {
		v.selected = i
		for _, b := range []*widget.Button{v.Dial, v.Edit, v.Delete} {
			b.Enable()
		}
	}
	v.Search.OnChanged = func(string) { refresh() }
	v.Search.OnSubmitted = func(string) { // Enter dials the only match
		if len(v.shown) == 1 {
			d.Hide()
			w.dial(v.shown[0].Number)
		}
	}
	refresh()
	buttons := container.NewHBox(v.Add, v.Edit, v.Delete, layout.NewSpacer(), v.Dial)
	d = dialog.NewCustom("Contacts", "Close", container.NewBorder(v.Search, buttons, nil, nil, v.List), w.Win)
	d.Resize(dialogSize(w.Win, fyne.NewSize(520, 440)))
	d.Show()
	w.Win.Canvas().Focus(v.Search)
	return v
}

// contactForm adds a contact (old zero) or changes old; done runs after a save.
func (w *Window) contactForm(store ContactStore, old contacts.Contact, done func()) *ContactForm {
	f := &ContactForm{Name: widget.NewEntry(), Number: widget.NewEntry(), Error: widget.NewLabel("")}
	f.Name.SetText(old.Name)
	f.Number.SetText(old.Number)
	f.Number.SetPlaceHolder("1002, +15551234 or user@example.com")
	f.Error.Importance = widget.DangerImportance
	f.Error.Wrapping = fyne.TextWrapWord
	title := "Add a contact"
	if old != (contacts.Contact{}) {
		title = "Edit " + old.Name
	}
	var d dialog.Dialog
	f.Save = widget.NewButtonWithIcon("Save", theme.DocumentSaveIcon(), func() {
		if err := store.Put(old, contacts.Contact{Name: f.Name.Text, Number: f.Number.Text}); err != nil {
			f.Error.SetText(err.Error()) // the form stays open with what was typed
			return
		}
		d.Hide()
		done()
	})
	f.Save.Importance = widget.HighImportance
	form := widget.NewForm(widget.NewFormItem("Name", f.Name), widget.NewFormItem("Number", f.Number))
	d = dialog.NewCustom(title, "Cancel", container.NewVBox(form, f.Error, container.NewHBox(layout.NewSpacer(), f.Save)), w.Win)
	d.Resize(dialogSize(w.Win, fyne.NewSize(420, 220)))
	d.Show()
	return f
}
