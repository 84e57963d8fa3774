//! The tray host: xfce4-panel with one panel holding only its `systray` plugin ("Status Tray
//! Plugin"), which owns `org.kde.StatusNotifierWatcher` and draws StatusNotifierItems.
//!
//! The panel reads its layout from xfconf, so the fixture runs its own `xfconfd` on the private
//! bus (no activation there) with `$XDG_CONFIG_HOME/xfce4/xfconf/xfce-perchannel-xml/
//! xfce4-panel.xml` written by [`write_config`]: a configured channel means no first-run "which
//! layout?" dialog. The panel sits along the top edge of the screen, [`PANEL_SIZE`] pixels tall,
//! icons drawn at [`ICON_SIZE`] pixels. Right-clicking an item opens its menu (xfce's default).

use std::path::{Path, PathBuf};

/// Height of the panel, in pixels.
pub const PANEL_SIZE: u32 = 40;
/// Size the systray plugin draws items at, in pixels.
pub const ICON_SIZE: u32 = 32;

/// Where Debian (and other distributions) install `xfconfd`, which is not on PATH.
pub fn xfconfd_path() -> Option<PathBuf> {
    let mut candidates = vec![
        PathBuf::from("/usr/libexec/xfconfd"),
        PathBuf::from("/usr/lib/xfce4/xfconf/xfconfd"),
    ];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        candidates.extend(
            entries
                .flatten()
                .map(|e| e.path().join("xfce4/xfconf/xfconfd")),
        );
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// Writes the `xfce4-panel` xfconf channel under `config_home` (an `XDG_CONFIG_HOME`).
pub fn write_config(config_home: &Path) {
    let dir = config_home.join("xfce4/xfconf/xfce-perchannel-xml");
    std::fs::create_dir_all(&dir).expect("create the xfconf directory");
    std::fs::write(dir.join("xfce4-panel.xml"), channel_xml()).expect("write xfce4-panel.xml");
}

fn channel_xml() -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="{PANEL_SIZE}"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="systray">
      <property name="icon-size" type="int" value="{ICON_SIZE}"/>
      <property name="square-icons" type="bool" value="true"/>
    </property>
  </property>
</channel>
"#
    )
}
