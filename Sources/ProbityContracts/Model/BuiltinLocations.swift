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

    /// The files of `/proc/PID/` that expose a process's secrets.
    public static let processMemoryFiles: Set<String> = ["environ", "mem", "maps", "smaps", "pagemap"]
}
