//! Windows: a supervised child's process tree held in a job object, so that stopping it stops the
//! PyInstaller bootloader and the Python child it starts together, and closing the xtask (even by
//! a crash) closes the job and ends whatever is left (`JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`).
//!
//! The child starts suspended, is put in the job, then resumed: nothing it starts can escape the
//! job by being quicker than the assignment.

use std::os::windows::io::AsRawHandle;
use std::process::Child;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Console::{CTRL_BREAK_EVENT, GenerateConsoleCtrlEvent};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, TH32CS_SNAPTHREAD, THREADENTRY32, Thread32First, Thread32Next,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION, JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectBasicAccountingInformation,
    JobObjectExtendedLimitInformation, QueryInformationJobObject, SetInformationJobObject, TerminateJobObject,
};
use windows_sys::Win32::System::Threading::{OpenThread, ResumeThread, THREAD_SUSPEND_RESUME};

pub use windows_sys::Win32::System::Threading::{CREATE_NEW_PROCESS_GROUP, CREATE_SUSPENDED};

/// The exit code of every process the job's termination ends.
const TERMINATED_EXIT_CODE: u32 = 1;

/// A job object whose processes all end when it is terminated or its last handle closes.
pub struct Job {
    handle: HANDLE,
}

// SAFETY: a job handle is a kernel object handle, not memory: any thread may use or close it.
unsafe impl Send for Job {}
// SAFETY: as for Send; every call on it is a kernel call the kernel serializes.
unsafe impl Sync for Job {}

impl Job {
    /// A new job with kill-on-close set.
    pub fn new() -> std::io::Result<Job> {
        // SAFETY: null attributes and name are allowed: an unnamed job with default security.
        let handle = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
        if handle.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        let job = Job { handle };
        // SAFETY: the struct is integers and nested structs of integers: all zero bytes are valid.
        let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
        limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        // SAFETY: the pointer and size describe `limits`, which lives across the call.
        let set = unsafe {
            SetInformationJobObject(
                job.handle,
                JobObjectExtendedLimitInformation,
                (&raw const limits).cast(),
                size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            )
        };
        if set == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(job)
    }

    /// Put a child (started with [`CREATE_SUSPENDED`], so it has started nothing yet) in the job.
    pub fn assign(&self, child: &Child) -> std::io::Result<()> {
        // SAFETY: both handles are open: the job's (ours) and the child's (held by `child`).
        let assigned = unsafe { AssignProcessToJobObject(self.handle, child.as_raw_handle() as HANDLE) };
        if assigned == 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
    }

    /// How many of the job's processes are still running.
    pub fn active_processes(&self) -> u32 {
        // SAFETY: the struct is integers: all zero bytes are valid.
        let mut accounting: JOBOBJECT_BASIC_ACCOUNTING_INFORMATION = unsafe { std::mem::zeroed() };
        // SAFETY: the pointer and size describe `accounting`, written by the call and read after it.
        let queried = unsafe {
            QueryInformationJobObject(
                self.handle,
                JobObjectBasicAccountingInformation,
                (&raw mut accounting).cast(),
                size_of::<JOBOBJECT_BASIC_ACCOUNTING_INFORMATION>() as u32,
                std::ptr::null_mut(),
            )
        };
        if queried == 0 { 0 } else { accounting.ActiveProcesses }
    }

    /// End every process in the job at once.
    pub fn terminate(&self) {
        // SAFETY: the job handle is open while `self` lives.
        unsafe {
            TerminateJobObject(self.handle, TERMINATED_EXIT_CODE);
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // SAFETY: the handle is open and closed only here, once.
        unsafe {
            CloseHandle(self.handle);
        }
    }
}

/// Ask the child's process group (it was started with [`CREATE_NEW_PROCESS_GROUP`], so its id is
/// the child's) to stop: Ctrl-Break, which a Python child turns into `SIGBREAK` (the services stop
/// on it with exit 0, like on SIGTERM; elsewhere its default action ends the process). A one-file
/// bootloader leaves it to its child and removes its unpacked folder once the child ended. Fails
/// quietly when the xtask has no console to send it through.
pub fn request_stop(group: u32) {
    // SAFETY: sends an event to a process group by id; an id that is gone makes it fail, nothing else.
    unsafe {
        GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, group);
    }
}

/// Resume the threads of a process started suspended (its one main thread).
pub fn resume_threads_of(pid: u32) -> std::io::Result<()> {
    // SAFETY: takes no pointers; the snapshot handle is closed below.
    let snapshot = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0) };
    if snapshot == INVALID_HANDLE_VALUE {
        return Err(std::io::Error::last_os_error());
    }
    let mut threads = Vec::new();
    // SAFETY: the struct is integers: all zero bytes are valid.
    let mut entry: THREADENTRY32 = unsafe { std::mem::zeroed() };
    entry.dwSize = size_of::<THREADENTRY32>() as u32;
    // SAFETY: `entry` is a THREADENTRY32 with dwSize set, as the call requires.
    let mut more = unsafe { Thread32First(snapshot, &raw mut entry) } != 0;
    while more {
        threads.push((entry.th32ThreadID, entry.th32OwnerProcessID));
        // SAFETY: as for Thread32First.
        more = unsafe { Thread32Next(snapshot, &raw mut entry) } != 0;
    }
    // SAFETY: the snapshot handle is open and closed only here.
    unsafe {
        CloseHandle(snapshot);
    }
    let owned = super::supervised::threads_owned_by(pid, &threads);
    if owned.is_empty() {
        return Err(std::io::Error::other(format!("process {pid} has no thread to resume")));
    }
    for thread_id in owned {
        // SAFETY: takes no pointers; a thread id that is gone gives a null handle, checked below.
        let thread = unsafe { OpenThread(THREAD_SUSPEND_RESUME, 0, thread_id) };
        if thread.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the thread handle was just opened with THREAD_SUSPEND_RESUME.
        let resumed = unsafe { ResumeThread(thread) };
        // SAFETY: the thread handle is open and closed only here.
        unsafe {
            CloseHandle(thread);
        }
        if resumed == u32::MAX {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether a process with this id runs (for the tests: a pid Windows has not reused yet).
#[cfg(test)]
pub fn is_running(pid: u32) -> bool {
    use windows_sys::Win32::System::Threading::{GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION};
    /// `STILL_ACTIVE`: the exit code of a process that has not exited.
    const STILL_ACTIVE: u32 = 259;
    // SAFETY: takes no pointers; a pid that is gone gives a null handle, checked below.
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        return false;
    }
    let mut code = 0;
    // SAFETY: the process handle is open; `code` is a u32 the call writes.
    let queried = unsafe { GetExitCodeProcess(process, &raw mut code) };
    // SAFETY: the process handle is open and closed only here.
    unsafe {
        CloseHandle(process);
    }
    queried != 0 && code == STILL_ACTIVE
}
