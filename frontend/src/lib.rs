//! The wasm entry point: hydrates the page's islands (the rest of the page is server-rendered
//! and ships no code). The loader (`app/src/islands.js`) calls it, hydrates each island, and
//! then marks `<body data-hydrated="true">`.

use wasm_bindgen::prelude::wasm_bindgen;

// The islands' hydration functions are exported from the `app` crate.
#[allow(unused_imports)]
use app::*;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
