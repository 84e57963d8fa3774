//! A tray item's menu as the panel reads it: the `com.canonical.dbusmenu` layout
//! (`GetLayout(0, -1, [])`, every property of every item) turned into a tree of [`MenuNode`]s.
//!
//! In busctl's JSON an item is `[id, {property: variant}, [variant of item, ...]]`; properties
//! left out take dbusmenu's defaults (`enabled` and `visible` true, `type` "standard").

use serde_json::Value;

/// One menu item and its children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MenuNode {
    pub id: i32,
    /// The label as sent (dbusmenu marks a mnemonic with `_`); "" for separators and the root.
    pub label: String,
    /// "standard" or "separator".
    pub kind: String,
    pub enabled: bool,
    pub visible: bool,
    /// "checkmark" or "radio" for a toggle item.
    pub toggle_type: Option<String>,
    /// 0 off, 1 on, -1 indeterminate.
    pub toggle_state: Option<i32>,
    pub children: Vec<MenuNode>,
}

impl MenuNode {
    /// Parses one item of busctl's JSON (`[id, {props}, [children]]`).
    pub fn from_json(item: &Value) -> Result<MenuNode, String> {
        let bad = || format!("not a dbusmenu item: {item}");
        let id = item[0].as_i64().ok_or_else(bad)?;
        let props = item[1].as_object().ok_or_else(bad)?;
        let prop = |name: &str| props.get(name).map(|variant| &variant["data"]);
        let text = |name: &str| prop(name).and_then(Value::as_str).map(str::to_string);
        let flag = |name: &str| prop(name).and_then(Value::as_bool).unwrap_or(true);
        let children = item[2]
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|child| MenuNode::from_json(&child["data"]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MenuNode {
            id: i32::try_from(id).map_err(|_| bad())?,
            label: text("label").unwrap_or_default(),
            kind: text("type").unwrap_or_else(|| "standard".to_string()),
            enabled: flag("enabled"),
            visible: flag("visible"),
            toggle_type: text("toggle-type"),
            toggle_state: prop("toggle-state")
                .and_then(Value::as_i64)
                .and_then(|s| i32::try_from(s).ok()),
            children,
        })
    }

    pub fn is_separator(&self) -> bool {
        self.kind == "separator"
    }

    /// The first item (this one included, depth first) that `matches`.
    pub fn find(&self, matches: &dyn Fn(&MenuNode) -> bool) -> Option<&MenuNode> {
        if matches(self) {
            return Some(self);
        }
        self.children.iter().find_map(|child| child.find(matches))
    }

    /// The first item labelled exactly `label`, anywhere below this one.
    pub fn item(&self, label: &str) -> Option<&MenuNode> {
        self.find(&|node| node.label == label)
    }

    /// The labels of the direct children, separators as "---": the menu as a user reads it.
    pub fn labels(&self) -> Vec<String> {
        self.children
            .iter()
            .filter(|c| c.visible)
            .map(|c| {
                if c.is_separator() {
                    "---".to_string()
                } else {
                    c.label.clone()
                }
            })
            .collect()
    }

    /// The tree as indented text (for assertion messages).
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(0, &mut out);
        out
    }

    fn render_into(&self, depth: usize, out: &mut String) {
        let label = if self.is_separator() {
            "---"
        } else {
            &self.label
        };
        let mut notes = Vec::new();
        if !self.enabled {
            notes.push("disabled".to_string());
        }
        if !self.visible {
            notes.push("hidden".to_string());
        }
        if let Some(kind) = &self.toggle_type {
            notes.push(format!("{kind}={}", self.toggle_state.unwrap_or(-1)));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" [{}]", notes.join(", "))
        };
        out.push_str(&format!(
            "{}#{} {label}{notes}\n",
            "  ".repeat(depth),
            self.id
        ));
        for child in &self.children {
            child.render_into(depth + 1, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busctl_layout_parses_into_a_tree() {
        // What busctl printed for a probe tray (GetLayout's second value).
        let layout: Value = serde_json::from_str(
            r#"[0,{"children-display":{"type":"s","data":"submenu"}},[
              {"type":"(ia{sv}av)","data":[1,{"label":{"type":"s","data":"host — ok"}},[
                {"type":"(ia{sv}av)","data":[2,{"label":{"type":"s","data":"Refresh now"}},[]]}]]},
              {"type":"(ia{sv}av)","data":[4,{"type":{"type":"s","data":"separator"}},[]]},
              {"type":"(ia{sv}av)","data":[5,{"label":{"type":"s","data":"Start at login"},
                "toggle-state":{"type":"i","data":1},"toggle-type":{"type":"s","data":"checkmark"}},[]]},
              {"type":"(ia{sv}av)","data":[6,{"label":{"type":"s","data":"Off"},
                "enabled":{"type":"b","data":false}},[]]}]]"#,
        )
        .unwrap();
        let root = MenuNode::from_json(&layout).unwrap();
        assert_eq!(root.labels(), ["host — ok", "---", "Start at login", "Off"]);
        assert_eq!(root.item("Refresh now").map(|n| n.id), Some(2));
        let toggle = root.item("Start at login").unwrap();
        assert_eq!(toggle.toggle_type.as_deref(), Some("checkmark"));
        assert_eq!(toggle.toggle_state, Some(1));
        assert!(!root.item("Off").unwrap().enabled);
        assert!(
            root.render().contains("    #2 Refresh now\n"),
            "{}",
            root.render()
        );
        assert!(MenuNode::from_json(&serde_json::json!({"x": 1})).is_err());
    }
}
