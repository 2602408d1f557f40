/// Locations the contract language knows by name (`secrets: credentials`, `process: persistence`),
/// written as patterns with variables. docs/contracts.md lists them.
public enum BuiltinLocations {
    /// Files that hold credentials: keys, tokens, cloud and registry logins.
    public static let credentials: [String] = [
        "{home}/.ssh/**",
        "{home}/.aws/**",
        "{home}/.azure/**",
        "{home}/.config/gcloud/**",
        "{home}/.kube/config",
        "{home}/.docker/config.json",
        "{home}/.npmrc",
        "{home}/.yarnrc.yml",
        "{home}/.pypirc",
        "{home}/.netrc",
        "{home}/.git-credentials",
        "{home}/.config/git/credentials",
        "{home}/.config/gh/hosts.yml",
        "{home}/.gnupg/**",
        "{home}/.vault-token",
        "{home}/.cargo/credentials",
        "{home}/.cargo/credentials.toml",
        "{home}/.gem/credentials",
        "{home}/.terraform.d/credentials.tfrc.json",
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/ssh/ssh_host_*_key",
        "/run/secrets/**",
        "/var/run/secrets/**",
    ]

    /// Places where a write makes code run again later: cron, systemd units, shell start-up
    /// files, autostart entries, the dynamic loader's preload list, authorized SSH keys.
    public static let persistence: [String] = [
        "/etc/crontab",
        "/etc/cron.*/**",
        "/var/spool/cron/**",
        "/etc/systemd/**",
        "/lib/systemd/system/**",
        "/usr/lib/systemd/system/**",
        "/etc/init.d/**",
        "/etc/rc.local",
        "/etc/profile",
        "/etc/profile.d/**",
        "/etc/bash.bashrc",
        "/etc/environment",
        "/etc/ld.so.preload",
        "/etc/sudoers",
        "/etc/sudoers.d/**",
        "/etc/xdg/autostart/**",
        "{home}/.bashrc",
        "{home}/.bash_profile",
        "{home}/.bash_login",
        "{home}/.bash_logout",
        "{home}/.profile",
        "{home}/.zshrc",
        "{home}/.zshenv",
        "{home}/.zprofile",
        "{home}/.config/fish/**",
        "{home}/.config/systemd/**",
        "{home}/.config/autostart/**",
        "{home}/.ssh/authorized_keys",
        "{home}/.ssh/authorized_keys2",
    ]

    /// Python start-up hooks (`process: python-startup`): code the interpreter runs at every
    /// start. `site.py` executes the `import` lines of every `*.pth` file in a site directory
    /// and imports `sitecustomize` and `usercustomize` from anywhere on the path (a module, a
    /// package, compiled or not); a venv's site-packages is a site directory wherever it lives.
    /// `site.py` matches `.pth` case-sensitively, so `evil.PTH` is never run and not listed.
    public static let pythonStartup: [String] = [
        "/**/site-packages/*.pth",
        "/**/dist-packages/*.pth",
        "/**/site-packages/sitecustomize.*",
        "/**/site-packages/usercustomize.*",
        "/**/site-packages/sitecustomize/**",
        "/**/site-packages/usercustomize/**",
        "/**/dist-packages/sitecustomize.*",
        "/**/dist-packages/usercustomize.*",
        "/**/dist-packages/sitecustomize/**",
        "/**/dist-packages/usercustomize/**",
        // The standard library's own directory (`/usr/lib/python3.12`, a pyenv version's),
        // and Debian's `/etc/python3.12/sitecustomize.py` it links to.
        "/**/lib/python3*/sitecustomize.*",
        "/**/lib/python3*/usercustomize.*",
        "/etc/python3*/sitecustomize.*",
    ]

    /// Packages whose processes install Python distributions: a start-up hook they write is
    /// legitimate when a `RECORD` lists it (`process: python-startup`).
    public static let pythonInstallers: Set<String> = [
        "pip", "python3-pip", "uv", "pipx", "poetry", "pdm", "installer", "setuptools", "python3-setuptools",
        "wheel", "hatch", "conda",
    ]

    /// Directories the dynamic loader may be pointed at (`LD_LIBRARY_PATH`) without the process
    /// losing its standing as the program it runs: only root can write them on a sane system.
    /// Anything else (a temporary, home or workspace directory, a relative or empty entry, which
    /// means the working directory) lets the build substitute the libraries a credential reader
    /// loads.
    public static let systemLibraryDirectories: [String] = ["/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32"]

    /// The files of `/proc/PID/` that expose a process's secrets.
    public static let processMemoryFiles: Set<String> = ["environ", "mem", "maps", "smaps", "pagemap"]
}
