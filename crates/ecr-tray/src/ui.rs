//! The tray itself, through `tray-icon` and its `muda` menus: the one module that touches the
//! toolkit. [`TrayUi`] implements [`Ui`]: it sets the icon when the state changes, rebuilds
//! the menu when its items change (a registry appears or goes), and otherwise updates labels
//! and the check mark in place, so an open menu is not torn down every minute.
//!
//! On Linux with the default `ksni` backend the tray is a StatusNotifierItem served by ksni's
//! own D-Bus thread; `muda` items are snapshotted for it, and every change is pushed to the
//! host by `tray-icon`'s menu watcher. Menu clicks arrive through `MenuEvent`'s handler (see
//! [`crate::runner`]).

use std::collections::HashMap;

use tray_icon::menu::{CheckMenuItem, IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tray_icon::{Icon, TrayIcon, TrayIconBuilder};

use crate::app::Ui;
use crate::icons;
use crate::model::{APP_TITLE, Action, IconState, Layout, TrayView, labels};
use crate::notices::Message;
use crate::notifier::Notifier;

/// Why the tray could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error(transparent)]
    Icon(#[from] icons::IconError),
    #[error("bad tray icon: {0}")]
    BadIcon(#[from] tray_icon::BadIcon),
    #[error("cannot build the menu: {0}")]
    Menu(#[from] tray_icon::menu::Error),
    #[error("cannot show the tray icon: {0}")]
    Tray(#[from] tray_icon::Error),
}

/// The tray icon, its menu and the notification thread.
pub struct TrayUi {
    tray: TrayIcon,
    icons: HashMap<IconState, Icon>,
    icon: IconState,
    items: MenuItems,
    notifier: Notifier,
}

/// The menu's items that change in place.
struct MenuItems {
    layout: Layout,
    problem: Option<MenuItem>,
    registries: Vec<Submenu>,
    start_at_login: CheckMenuItem,
}

impl TrayUi {
    /// Shows the tray with `view`. With the ksni backend this returns once the item is on the
    /// session bus and registered with the StatusNotifierWatcher (when one runs).
    pub fn new(view: &TrayView, notifier: Notifier) -> Result<TrayUi, UiError> {
        let mut icons = HashMap::new();
        for state in IconState::ALL {
            let image = icons::rgba(state)?;
            icons.insert(
                state,
                Icon::from_rgba(image.pixels, image.width, image.height)?,
            );
        }
        let (menu, items) = build_menu(view)?;
        let tray = TrayIconBuilder::new()
            .with_id("ecr-tray")
            .with_title(APP_TITLE)
            .with_tooltip(APP_TITLE)
            .with_icon(icons[&view.icon].clone())
            .with_menu(Box::new(menu))
            .build()?;
        Ok(TrayUi {
            tray,
            icons,
            icon: view.icon,
            items,
            notifier,
        })
    }

    fn update(&mut self, view: &TrayView) -> Result<(), UiError> {
        if view.icon != self.icon {
            self.tray.set_icon(Some(self.icons[&view.icon].clone()))?;
            self.icon = view.icon;
        }
        if view.layout() != self.items.layout || self.relabel_needs_rebuild(view) {
            let (menu, items) = build_menu(view)?;
            self.tray.set_menu(Some(Box::new(menu)));
            self.items = items;
            return Ok(());
        }
        if let (Some(item), Some(text)) = (&self.items.problem, &view.problem) {
            set_text(item.text(), text, |t| item.set_text(t));
        }
        for (submenu, row) in self.items.registries.iter().zip(&view.registries) {
            set_text(submenu.text(), &row.label, |t| submenu.set_text(t));
        }
        if self.items.start_at_login.is_checked() != view.start_at_login {
            self.items.start_at_login.set_checked(view.start_at_login);
        }
        Ok(())
    }
}

impl TrayUi {
    /// muda's GTK submenus ignore `set_text` (their label sits in a box beside an image, and
    /// `gtk_menu_item_set_label` only changes a label child), so with the libappindicator
    /// backend a changed registry label rebuilds the menu. ksni reads labels from muda's
    /// snapshot, where `set_text` works.
    fn relabel_needs_rebuild(&self, view: &TrayView) -> bool {
        const GTK_MENUS: bool = cfg!(all(feature = "appindicator", not(feature = "ksni")));
        GTK_MENUS
            && self
                .items
                .registries
                .iter()
                .zip(&view.registries)
                .any(|(submenu, row)| submenu.text() != escape(&row.label))
    }
}

impl Ui for TrayUi {
    fn show(&mut self, view: &TrayView) {
        if let Err(e) = self.update(view) {
            tracing::warn!("cannot update the tray: {e}");
        }
    }

    fn notify(&mut self, message: Message) {
        self.notifier.send(message);
    }
}

/// Sets a label only when it changed: every change is a D-Bus signal to the tray host.
fn set_text(current: String, wanted: &str, set: impl FnOnce(&str)) {
    let wanted = escape(wanted);
    if current != wanted {
        set(&wanted);
    }
}

/// `text` as a muda label: `&` marks a mnemonic there, `&&` is a plain ampersand.
fn escape(text: &str) -> String {
    text.replace('&', "&&")
}

fn build_menu(view: &TrayView) -> Result<(Menu, MenuItems), UiError> {
    let menu = Menu::new();
    let problem = view
        .problem
        .as_ref()
        .map(|text| MenuItem::new(escape(text), false, None));
    if let Some(item) = &problem {
        menu.append(item)?;
    }
    let mut registries = Vec::new();
    for row in &view.registries {
        let refresh = item(Action::RefreshNow(row.host.clone()), labels::REFRESH_NOW);
        let copy = item(Action::CopyHost(row.host.clone()), labels::COPY_HOST);
        let submenu = Submenu::with_items(escape(&row.label), true, &[&refresh, &copy])?;
        menu.append(&submenu)?;
        registries.push(submenu);
    }
    if view.registries.is_empty() && view.problem.is_none() {
        menu.append(&MenuItem::new(labels::NO_REGISTRIES, false, None))?;
    }
    let start_at_login = CheckMenuItem::with_id(
        Action::ToggleStartAtLogin.id(),
        labels::START_AT_LOGIN,
        true,
        view.start_at_login,
        None,
    );
    menu.append_items(&[
        &PredefinedMenuItem::separator(),
        &item(Action::RefreshAll, labels::REFRESH_ALL),
        &item(Action::AddRegistry, labels::ADD_REGISTRY),
        &item(Action::OpenLogs, labels::OPEN_LOGS),
        &start_at_login,
        &PredefinedMenuItem::separator(),
        &item(Action::Quit, labels::QUIT) as &dyn IsMenuItem,
    ])?;
    let items = MenuItems {
        layout: view.layout(),
        problem,
        registries,
        start_at_login,
    };
    Ok((menu, items))
}

fn item(action: Action, label: &str) -> MenuItem {
    MenuItem::with_id(action.id(), label, true, None)
}
