; Inno Setup 6 script: installs docker-credential-ecr.exe and ecr-tray.exe for the current user
; (no administrator rights), adds the install folder to the user's PATH (docker looks for
; credential helpers there), a Start-menu entry for the tray and, if ticked, the tray's login item.
;
; NOT built by this project's CI: see README.md beside this file. Compile on Windows with
;   ISCC.exe /DAppVersion=0.1.0 installers\windows\ecr-tray.iss
; after `cargo build --release -p docker-credential-ecr -p ecr-tray`.

#ifndef AppVersion
  #error Pass the version: ISCC.exe /DAppVersion=X.Y.Z ecr-tray.iss
#endif
; Where cargo put the binaries, relative to this script.
#ifndef BinDir
  #define BinDir "..\..\target\release"
#endif

[Setup]
; The AppId identifies the installation for upgrades and uninstall: never change it.
AppId={{CF6C77AF-5295-4353-AC11-E780EE6F390E}
AppName=ECR Tray
AppVersion={#AppVersion}
AppVerName=ECR Tray {#AppVersion}
AppPublisher=docker-credential-ecr developers
AppPublisherURL=https://github.com/docker-credential-ecr/docker-credential-ecr
AppSupportURL=https://github.com/docker-credential-ecr/docker-credential-ecr/issues
PrivilegesRequired=lowest
; {autopf} is %LOCALAPPDATA%\Programs for a per-user install.
DefaultDirName={autopf}\docker-credential-ecr
DefaultGroupName=ECR Tray
DisableProgramGroupPage=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
ChangesEnvironment=yes
SetupIconFile=..\..\assets\icons\ecr-tray.ico
UninstallDisplayIcon={app}\ecr-tray.exe
OutputDir=..\..\target\windows
OutputBaseFilename=docker-credential-ecr-{#AppVersion}-setup
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
; Uncomment with a SignTool defined in the IDE or on the command line (/Ssigntool=...):
; SignTool=signtool
; SignedUninstaller=yes

[Tasks]
Name: "path"; Description: "Add docker-credential-ecr to my PATH (needed by docker)"
Name: "autostart"; Description: "Start ECR Tray when I log in"

[Files]
Source: "{#BinDir}\docker-credential-ecr.exe"; DestDir: "{app}"; Flags: ignoreversion
Source: "{#BinDir}\ecr-tray.exe"; DestDir: "{app}"; Flags: ignoreversion
Source: "..\..\assets\icons\ecr-tray.ico"; DestDir: "{app}"; Flags: ignoreversion

[Icons]
Name: "{group}\ECR Tray"; Filename: "{app}\ecr-tray.exe"; IconFilename: "{app}\ecr-tray.ico"; Comment: "Shows and refreshes Amazon ECR credentials for docker"
Name: "{group}\Uninstall ECR Tray"; Filename: "{uninstallexe}"

[Registry]
; The login item: the same value name and quoting ecr_core::autostart uses ("ecr-tray" under
; HKCU\...\Run), so the tray's "Start at login" menu item sees and can change it.
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "ecr-tray"; ValueData: """{app}\ecr-tray.exe"""; Flags: uninsdeletevalue; Tasks: autostart
; Login items the programs may have added themselves go on uninstall too.
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: none; ValueName: "ecr-tray"; Flags: uninsdeletevalue dontcreatekey
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: none; ValueName: "docker-credential-ecr-agent"; Flags: uninsdeletevalue dontcreatekey
; The user's PATH, when the task is ticked and the folder is not in it yet.
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; Tasks: path; Check: NotInUserPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\ecr-tray.exe"; Description: "Start ECR Tray now"; Flags: nowait postinstall skipifsilent

[UninstallRun]
Filename: "{sys}\taskkill.exe"; Parameters: "/f /im ecr-tray.exe"; Flags: runhidden; RunOnceId: "StopTray"

[Code]
const
  EnvKey = 'Environment';

function NotInUserPath(Dir: string): Boolean;
var
  Path: string;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, EnvKey, 'Path', Path) then
    Result := True
  else
    Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Path) + ';') = 0;
end;

{ Removes the install folder from the user's PATH on uninstall. }
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Path, Dir: string;
  P: Integer;
begin
  if CurUninstallStep <> usPostUninstall then
    exit;
  if not RegQueryStringValue(HKEY_CURRENT_USER, EnvKey, 'Path', Path) then
    exit;
  Dir := ExpandConstant('{app}');
  Path := ';' + Path + ';';
  P := Pos(';' + Uppercase(Dir) + ';', Uppercase(Path));
  if P = 0 then
    exit;
  Delete(Path, P, Length(Dir) + 1);
  Path := Copy(Path, 2, Length(Path) - 2);
  RegWriteExpandStringValue(HKEY_CURRENT_USER, EnvKey, 'Path', Path);
end;
