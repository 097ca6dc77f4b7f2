//! Stack capture on Linux: the x86-64 unwinder (`x86_64/unwind.rs`) fed with every ELF
//! module's unwind sections (`.eh_frame_hdr` and `.eh_frame`, copied by `modules` while
//! the loader's lock was held).

use framehop::{ExplicitModuleSectionInfo, Module};

use super::modules::ModuleInfo;
pub use crate::x86_64::unwind::{Captured, StackUnwinder, UnwindCache, CACHE_WAYS, MEMO_WALKS};

impl StackUnwinder {
    /// Adds a loaded module; its frames unwind if it carries unwind sections.
    pub fn add_module(&mut self, m: &ModuleInfo) {
        let unwind = m.unwind.as_ref().map(|u| {
            let svma = |avma: u64, len: usize| (avma - m.bias)..(avma - m.bias + len as u64);
            let info = ExplicitModuleSectionInfo {
                base_svma: 0,
                text_svma: Some((m.text_start - m.bias)..(m.text_end - m.bias)),
                eh_frame_svma: Some(svma(u.eh_frame_addr, u.eh_frame.len())),
                eh_frame: Some(u.eh_frame.clone()),
                eh_frame_hdr_svma: Some(svma(u.eh_frame_hdr_addr, u.eh_frame_hdr.len())),
                eh_frame_hdr: Some(u.eh_frame_hdr.clone()),
                ..Default::default()
            };
            let name = String::from_utf8_lossy(&m.path).into_owned();
            Module::new(name, m.text_start..m.text_end, m.bias, info)
        });
        self.add_code((m.start, m.end), (m.text_start, m.text_end), unwind);
    }
}
