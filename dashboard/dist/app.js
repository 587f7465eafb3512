!function(){"use strict";var e,t,n,s,r,o,a,l,i,u,c,d,_,p,m={},f=[],h=/acit|ex(?:s|g|n|p|$)|rph|grid|ows|mnc|ntw|ine[ch]|zoo|^ord|itera/i,$=Array.isArray;function g(e,t){for(var n in t)e[n]=t[n];return e}function v(e){e&&e.parentNode&&e.parentNode.removeChild(e)}function b(t,n,s){var r,o,a,l={};for(a in n)"key"==a?r=n[a]:"ref"==a?o=n[a]:l[a]=n[a];if(arguments.length>2&&(l.children=arguments.length>3?e.call(arguments,2):s),"function"==typeof t&&null!=t.defaultProps)for(a in t.defaultProps)void 0===l[a]&&(l[a]=t.defaultProps[a]);return y(t,l,r,o,null)}function y(e,s,r,o,a){var l={type:e,props:s,key:r,ref:o,__k:null,__:null,__b:0,__e:null,__c:null,constructor:void 0,__v:null==a?++n:a,__i:-1,__u:0};return null==a&&null!=t.vnode&&t.vnode(l),l}function w(e){return e.children}function k(e,t){this.props=e,this.context=t}function x(e,t){if(null==t)return e.__?x(e.__,e.__i+1):null;for(var n;t<e.__k.length;t++)if(null!=(n=e.__k[t])&&null!=n.__e)return n.__e;return"function"==typeof e.type?x(e):null}function M(e){if(e.__P&&e.__d){var n=e.__v,s=n.__e,r=[],o=[],a=g({},n);a.__v=n.__v+1,t.vnode&&t.vnode(a),D(e.__P,a,n,e.__n,e.__P.namespaceURI,32&n.__u?[s]:null,r,null==s?x(n):s,!!(32&n.__u),o),a.__v=n.__v,a.__.__k[a.__i]=a,j(r,a,o),n.__e=n.__=null,a.__e!=s&&T(a)}}function T(e){if(null!=(e=e.__)&&null!=e.__c)return e.__e=e.__c.base=null,e.__k.some(function(t){if(null!=t&&null!=t.__e)return e.__e=e.__c.base=t.__e}),T(e)}function S(e){(!e.__d&&(e.__d=!0)&&s.push(e)&&!C.__r++||r!=t.debounceRendering)&&((r=t.debounceRendering)||o)(C)}function C(){try{for(var e,t=1;s.length;)s.length>t&&s.sort(a),e=s.shift(),t=s.length,M(e)}finally{s.length=C.__r=0}}function q(e,t,n,s,r,o,a,l,i,u,c){var d,_,p,h,$,g,v=s&&s.__k||f,b=t.length;for(i=A(n,t,v,i,b),d=0;d<b;d++)null!=(p=n.__k[d])&&(_=-1!=p.__i&&v[p.__i]||m,p.__i=d,g=D(e,p,_,r,o,a,l,i,u,c),h=p.__e,p.ref&&_.ref!=p.ref&&(_.ref&&F(_.ref,null,p),c.push(p.ref,p.__c||h,p)),null==$&&null!=h&&($=h),4&p.__u?(i=P(p,i,e),_.__e&&(_.__e=null)):"function"==typeof p.type&&void 0!==g?i=g:h&&(i=h.nextSibling),p.__u&=-7);return n.__e=$,i}function A(e,t,n,s,r){var o,a,l,i,u,c=n.length,d=c,_=0;for(e.__k=new Array(r),o=0;o<r;o++)null!=(a=t[o])&&"boolean"!=typeof a&&"function"!=typeof a?("string"==typeof a||"number"==typeof a||"bigint"==typeof a||a.constructor==String?a=e.__k[o]=y(null,a,null,null,null):$(a)?a=e.__k[o]=y(w,{children:a},null,null,null):void 0===a.constructor&&a.__b>0?a=e.__k[o]=y(a.type,a.props,a.key,a.ref?a.ref:null,a.__v):e.__k[o]=a,i=o+_,a.__=e,a.__b=e.__b+1,l=null,-1!=(u=a.__i=N(a,n,i,d))&&(d--,(l=n[u])&&(l.__u|=2)),null==l||null==l.__v?(-1==u&&(r>c?_--:r<c&&_++),"function"!=typeof a.type&&(a.__u|=4)):u!=i&&(u==i-1?_--:u==i+1?_++:(u>i?_--:_++,a.__u|=4))):e.__k[o]=null;if(d)for(o=0;o<c;o++)null!=(l=n[o])&&!(2&l.__u)&&(l.__e==s&&(s=x(l)),O(l,l));return s}function P(e,t,n){var s,r;if("function"==typeof e.type){for(s=e.__k,r=0;s&&r<s.length;r++)s[r]&&(s[r].__=e,t=P(s[r],t,n));return t}e.__e!=t&&(t&&e.type&&!t.parentNode&&(t=x(e)),t=n.insertBefore(e.__e,t||null));do{t=t&&t.nextSibling}while(null!=t&&8==t.nodeType);return t}function N(e,t,n,s){var r,o,a,l=e.key,i=e.type,u=t[n],c=null!=u&&!(2&u.__u);if(null===u&&null==l||c&&l==u.key&&i==u.type)return n;if(s>(c?1:0))for(r=n-1,o=n+1;r>=0||o<t.length;)if(null!=(u=t[a=r>=0?r--:o++])&&!(2&u.__u)&&l==u.key&&i==u.type)return a;return-1}function U(e,t,n){"-"==t[0]?e.setProperty(t,null==n?"":n):e[t]=null==n?"":"number"!=typeof n||h.test(t)?n:n+"px"}function H(e,t,n,s,r){var o,a;e:if("style"==t)if("string"==typeof n)e.style.cssText=n;else{if("string"==typeof s&&(e.style.cssText=s=""),s)for(t in s)n&&t in n||U(e.style,t,"");if(n)for(t in n)s&&n[t]==s[t]||U(e.style,t,n[t])}else if("o"==t[0]&&"n"==t[1])o=t!=(t=t.replace(c,"$1")),a=t.toLowerCase(),t=a in e||"onFocusOut"==t||"onFocusIn"==t?a.slice(2):t.slice(2),e.l||(e.l={}),e.l[t+o]=n,n?s?n[u]=s[u]:(n[u]=d,e.addEventListener(t,o?p:_,o)):e.removeEventListener(t,o?p:_,o);else{if("http://www.w3.org/2000/svg"==r)t=t.replace(/xlink(H|:h)/,"h").replace(/sName$/,"s");else if("width"!=t&&"height"!=t&&"href"!=t&&"list"!=t&&"form"!=t&&"tabIndex"!=t&&"download"!=t&&"rowSpan"!=t&&"colSpan"!=t&&"role"!=t&&"popover"!=t&&t in e)try{e[t]=null==n?"":n;break e}catch(e){}"function"==typeof n||(null==n||!1===n&&"-"!=t[4]?e.removeAttribute(t):e.setAttribute(t,"popover"==t&&1==n?"":n))}}function R(e){return function(n){if(this.l){var s=this.l[n.type+e];if(null==n[i])n[i]=d++;else if(n[i]<s[u])return;return s(t.event?t.event(n):n)}}}function D(n,s,r,o,a,l,i,u,c,d){var _,p,h,b,y,M,T,S,C,A,P,N,U,R,D,j,F=s.type;if(void 0!==s.constructor)return null;128&r.__u&&(c=!!(32&r.__u),l=[u=s.__e=r.__e]),(_=t.__b)&&_(s);e:if("function"==typeof F){p=i.length;try{if(C=s.props,A=F.prototype&&F.prototype.render,P=(_=F.contextType)&&o[_.__c],N=_?P?P.props.value:_.__:o,r.__c?S=(h=s.__c=r.__c).__=h.__E:(A?s.__c=h=new F(C,N):(s.__c=h=new k(C,N),h.constructor=F,h.render=E),P&&P.sub(h),h.state||(h.state={}),h.__n=o,b=h.__d=!0,h.__h=[],h._sb=[]),A&&null==h.__s&&(h.__s=h.state),A&&null!=F.getDerivedStateFromProps&&(h.__s==h.state&&(h.__s=g({},h.__s)),g(h.__s,F.getDerivedStateFromProps(C,h.__s))),y=h.props,M=h.state,h.__v=s,b)A&&null==F.getDerivedStateFromProps&&null!=h.componentWillMount&&h.componentWillMount(),A&&null!=h.componentDidMount&&h.__h.push(h.componentDidMount);else{if(A&&null==F.getDerivedStateFromProps&&C!==y&&null!=h.componentWillReceiveProps&&h.componentWillReceiveProps(C,N),s.__v==r.__v||!h.__e&&null!=h.shouldComponentUpdate&&!1===h.shouldComponentUpdate(C,h.__s,N)){s.__v!=r.__v&&(h.props=C,h.state=h.__s,h.__d=!1),s.__e=r.__e,s.__k=r.__k,s.__k.some(function(e){e&&(e.__=s)}),f.push.apply(h.__h,h._sb),h._sb=[],h.__h.length&&i.push(h),u=x(r);break e}null!=h.componentWillUpdate&&h.componentWillUpdate(C,h.__s,N),A&&null!=h.componentDidUpdate&&h.__h.push(function(){h.componentDidUpdate(y,M,T)})}if(h.context=N,h.props=C,h.__P=n,h.__e=!1,U=t.__r,R=0,A)h.state=h.__s,h.__d=!1,U&&U(s),_=h.render(h.props,h.state,h.context),f.push.apply(h.__h,h._sb),h._sb=[];else do{h.__d=!1,U&&U(s),_=h.render(h.props,h.state,h.context),h.state=h.__s}while(h.__d&&++R<25);h.state=h.__s,null!=h.getChildContext&&(o=g(g({},o),h.getChildContext())),A&&!b&&null!=h.getSnapshotBeforeUpdate&&(T=h.getSnapshotBeforeUpdate(y,M)),D=null!=_&&_.type===w&&null==_.key?L(_.props.children):_,u=q(n,$(D)?D:[D],s,r,o,a,l,i,u,c,d),h.base=s.__e,s.__u&=-161,h.__h.length&&i.push(h),S&&(h.__E=h.__=null)}catch(n){if(i.length=p,s.__v=null,c||null!=l){if(n.then){for(s.__u|=c?160:128;u&&8==u.nodeType&&u.nextSibling;)u=u.nextSibling;null!=l&&(l[l.indexOf(u)]=null),s.__e=u}else if(null!=l)for(j=l.length;j--;)v(l[j])}else s.__e=r.__e;null==s.__k&&(s.__k=r.__k||[]),n.then||I(s),t.__e(n,s,r)}}else null==l&&s.__v==r.__v?(s.__k=r.__k,s.__e=r.__e):u=s.__e=function(n,s,r,o,a,l,i,u,c){var d,_,p,f,h,g,b,y=r.props||m,w=s.props,k=s.type;if("svg"==k?a="http://www.w3.org/2000/svg":"math"==k?a="http://www.w3.org/1998/Math/MathML":a||(a="http://www.w3.org/1999/xhtml"),null!=l)for(d=0;d<l.length;d++)if((h=l[d])&&"setAttribute"in h==!!k&&(k?h.localName==k:3==h.nodeType)){n=h,l[d]=null;break}if(null==n){if(null==k)return document.createTextNode(w);n=document.createElementNS(a,k,w.is&&w),u&&(t.__m&&t.__m(s,l),u=!1),l=null}if(null==k)y===w||u&&n.data==w||(n.data=w);else{if(l="textarea"==k&&null!=w.defaultValue?null:l&&e.call(n.childNodes),!u&&null!=l)for(y={},d=0;d<n.attributes.length;d++)y[(h=n.attributes[d]).name]=h.value;for(d in y)h=y[d],"dangerouslySetInnerHTML"==d?p=h:"children"==d||d in w||"value"==d&&"defaultValue"in w||"checked"==d&&"defaultChecked"in w||H(n,d,null,h,a);for(d in w)h=w[d],"children"==d?f=h:"dangerouslySetInnerHTML"==d?_=h:"value"==d?g=h:"checked"==d?b=h:u&&"function"!=typeof h||y[d]===h||H(n,d,h,y[d],a);if(_)u||p&&(_.__html==p.__html||_.__html==n.innerHTML)||(n.innerHTML=_.__html),s.__k=[];else if(p&&(n.innerHTML=""),q("template"==s.type?n.content:n,$(f)?f:[f],s,r,o,"foreignObject"==k?"http://www.w3.org/1999/xhtml":a,l,i,l?l[0]:r.__k&&x(r,0),u,c),null!=l)for(d=l.length;d--;)v(l[d]);u&&"textarea"!=k||(d="value","progress"==k&&null==g?n.removeAttribute("value"):null!=g&&(g!==n[d]||"progress"==k&&!g||"option"==k&&g!=y[d])&&H(n,d,g,y[d],a),d="checked",null!=b&&b!=n[d]&&H(n,d,b,y[d],a))}return n}(r.__e,s,r,o,a,l,i,c,d);return(_=t.diffed)&&_(s),128&s.__u?void 0:u}function I(e){e&&(e.__c&&(e.__c.__e=!0),e.__k&&e.__k.some(I))}function j(e,n,s){for(var r=0;r<s.length;r++)F(s[r],s[++r],s[++r]);t.__c&&t.__c(n,e),e.some(function(n){try{e=n.__h,n.__h=[],e.some(function(e){e.call(n)})}catch(e){t.__e(e,n.__v)}})}function L(e){return"object"!=typeof e||null==e||e.__b>0?e:$(e)?e.map(L):void 0!==e.constructor?null:g({},e)}function F(e,n,s){try{if("function"==typeof e){var r="function"==typeof e.__u;r&&e.__u(),r&&null==n||(e.__u=e(n))}else e.current=n}catch(e){t.__e(e,s)}}function O(e,n,s){var r,o;if(t.unmount&&t.unmount(e),(r=e.ref)&&(r.current&&r.current!=e.__e||F(r,null,n)),null!=(r=e.__c)){if(r.componentWillUnmount)try{r.componentWillUnmount()}catch(e){t.__e(e,n)}r.base=r.__P=r.__n=null}if(r=e.__k)for(o=0;o<r.length;o++)r[o]&&O(r[o],n,s||"function"!=typeof e.type);s||v(e.__e),e.__c=e.__=e.__e=void 0}function E(e,t,n){return this.constructor(e,n)}e=f.slice,t={__e:function(e,t,n,s){for(var r,o,a;t=t.__;)if((r=t.__c)&&!r.__)try{if((o=r.constructor)&&null!=o.getDerivedStateFromError&&(r.setState(o.getDerivedStateFromError(e)),a=r.__d),null!=r.componentDidCatch&&(r.componentDidCatch(e,s||{}),a=r.__d),a)return r.__E=r}catch(t){e=t}throw e}},n=0,k.prototype.setState=function(e,t){var n;n=null!=this.__s&&this.__s!=this.state?this.__s:this.__s=g({},this.state),"function"==typeof e&&(e=e(g({},n),this.props)),e&&g(n,e),null!=e&&this.__v&&(t&&this._sb.push(t),S(this))},k.prototype.forceUpdate=function(e){this.__v&&(this.__e=!0,e&&this.__h.push(e),S(this))},k.prototype.render=w,s=[],o="function"==typeof Promise?Promise.prototype.then.bind(Promise.resolve()):setTimeout,a=function(e,t){return e.__v.__b-t.__v.__b},C.__r=0,l=Math.random().toString(8),i="__d"+l,u="__a"+l,c=/(PointerCapture)$|Capture$/i,d=0,_=R(!1),p=R(!0);var W=function(e,t,n,s){var r;t[0]=0;for(var o=1;o<t.length;o++){var a=t[o++],l=t[o]?(t[0]|=a?1:2,n[t[o++]]):t[++o];3===a?s[0]=l:4===a?s[1]=Object.assign(s[1]||{},l):5===a?(s[1]=s[1]||{})[t[++o]]=l:6===a?s[1][t[++o]]+=l+"":a?(r=e.apply(l,W(e,l,n,["",null])),s.push(r),l[0]?t[0]|=2:(t[o-2]=0,t[o]=r)):s.push(l)}return s},K=new Map;var B,V,z,J,Q=function(e){var t=K.get(this);return t||(t=new Map,K.set(this,t)),(t=W(this,t.get(e)||(t.set(e,t=function(e){for(var t,n,s=1,r="",o="",a=[0],l=function(e){1===s&&(e||(r=r.replace(/^\s*\n\s*|\s*\n\s*$/g,"")))?a.push(0,e,r):3===s&&(e||r)?(a.push(3,e,r),s=2):2===s&&"..."===r&&e?a.push(4,e,0):2===s&&r&&!e?a.push(5,0,!0,r):s>=5&&((r||!e&&5===s)&&(a.push(s,0,r,n),s=6),e&&(a.push(s,e,0,n),s=6)),r=""},i=0;i<e.length;i++){i&&(1===s&&l(),l(i));for(var u=0;u<e[i].length;u++)t=e[i][u],1===s?"<"===t?(l(),a=[a],s=3):r+=t:4===s?"--"===r&&">"===t?(s=1,r=""):r=t+r[0]:o?t===o?o="":r+=t:'"'===t||"'"===t?o=t:">"===t?(l(),s=1):s&&("="===t?(s=5,n=r,r=""):"/"===t&&(s<5||">"===e[i][u+1])?(l(),3===s&&(a=a[0]),s=a,(a=a[0]).push(2,0,s),s=0):" "===t||"\t"===t||"\n"===t||"\r"===t?(l(),s=2):r+=t),3===s&&"!--"===r&&(s=4,a=a[0])}return l(),a}(e)),t),arguments,[])).length>1?t:t[0]}.bind(b),Y=0,G=[],X=t,Z=X.__b,ee=X.__r,te=X.diffed,ne=X.__c,se=X.unmount,re=X.__;function oe(e,t){X.__h&&X.__h(V,e,Y||t),Y=0;var n=V.__H||(V.__H={__:[],__h:[]});return e>=n.__.length&&n.__.push({}),n.__[e]}function ae(e){return Y=1,function(e,t,n){var s=oe(B++,2);if(s.t=e,!s.__c&&(s.__=[n?n(t):fe(void 0,t),function(e){var t=s.__N?s.__N[0]:s.__[0],n=s.t(t,e);t!==n&&(s.__N=[n,s.__[1]],s.__c.setState({}))}],s.__c=V,!V.__f)){var r=function(e,t,n){if(!s.__c.__H)return!0;var r=!1,a=s.__c.props!==e;if(s.__c.__H.__.some(function(e){if(e.__N){r=!0;var t=e.__[0];e.__=e.__N,e.__N=void 0,t!==e.__[0]&&(a=!0)}}),o){var l=o.call(this,e,t,n);return r?l||a:l}return!r||a};V.__f=!0;var o=V.shouldComponentUpdate,a=V.componentWillUpdate;V.componentWillUpdate=function(e,t,n){if(this.__e){var s=o;o=void 0,r(e,t,n),o=s}a&&a.call(this,e,t,n)},V.shouldComponentUpdate=r}return s.__N||s.__}(fe,e)}function le(e,t){var n=oe(B++,3);!X.__s&&me(n.__H,t)&&(n.__=e,n.u=t,V.__H.__h.push(n))}function ie(e){return Y=5,function(e,t){var n=oe(B++,7);return me(n.__H,t)&&(n.__=e(),n.__H=t,n.__h=e),n.__}(function(){return{current:e}},[])}function ue(){for(var e;e=G.shift();){var t=e.__H;if(e.__P&&t)try{t.__h.some(_e),t.__h.some(pe),t.__h=[]}catch(n){t.__h=[],X.__e(n,e.__v)}}}X.__b=function(e){V=null,Z&&Z(e)},X.__=function(e,t){e&&t.__k&&t.__k.__m&&(e.__m=t.__k.__m),re&&re(e,t)},X.__r=function(e){ee&&ee(e),B=0;var t=(V=e.__c).__H;t&&(z===V?(t.__h=[],V.__h=[],t.__.some(function(e){e.__N&&(e.__=e.__N),e.u=e.__N=void 0})):(t.__h.some(_e),t.__h.some(pe),t.__h=[],B=0)),z=V},X.diffed=function(e){te&&te(e);var t=e.__c;t&&t.__H&&(t.__H.__h.length&&(1!==G.push(t)&&J===X.requestAnimationFrame||((J=X.requestAnimationFrame)||de)(ue)),t.__H.__.some(function(e){e.u&&(e.__H=e.u,e.u=void 0)})),z=V=null},X.__c=function(e,t){t.some(function(e){try{e.__h.some(_e),e.__h=e.__h.filter(function(e){return!e.__||pe(e)})}catch(n){t.some(function(e){e.__h&&(e.__h=[])}),t=[],X.__e(n,e.__v)}}),ne&&ne(e,t)},X.unmount=function(e){se&&se(e);var t,n=e.__c;n&&n.__H&&(n.__H.__.some(function(e){try{_e(e)}catch(e){t=e}}),n.__H=void 0,t&&X.__e(t,n.__v))};var ce="function"==typeof requestAnimationFrame;function de(e){var t,n=function(){clearTimeout(s),ce&&cancelAnimationFrame(t),setTimeout(e)},s=setTimeout(n,35);ce&&(t=requestAnimationFrame(n))}function _e(e){var t=V,n=e.__c;"function"==typeof n&&(e.__c=void 0,n()),V=t}function pe(e){var t=V;e.__c=e.__(),V=t}function me(e,t){return!e||e.length!==t.length||t.some(function(t,n){return t!==e[n]})}function fe(e,t){return"function"==typeof t?t(e):t}let he=null;const $e=new Set;class ge extends Error{}class ve extends Error{constructor(e,t,n){super(n),this.status=e,this.code=t}}function be(){return null!==he}async function ye(e,t={}){const n=new URLSearchParams;for(const[e,s]of Object.entries(t))null!=s&&""!==s&&n.set(e,s);const s=n.toString(),r=s?`${e}?${s}`:e,o=await fetch(r,{headers:we(),credentials:"omit",cache:"no-store"});if(!o.ok)throw await ke(o);return o.json()}function we(e={}){const t={Accept:"application/json",...e};return null!==he&&(t.Authorization=`Bearer ${he}`),t}async function ke(e){let t=null;try{t=await e.json()}catch{}const n=t?.error??{};if(401===e.status){const e=n.message??"This server needs a key";for(const t of $e)t(e);return new ge(e)}return new ve(e.status,n.code??"",n.message??`${e.status} ${e.statusText}`)}async function xe(e,t,{signal:n,body:s,onResponse:r}={}){const o={headers:we(),credentials:"omit",cache:"no-store",signal:n};void 0!==s&&(o.method="POST",o.headers["Content-Type"]="application/json",o.body=JSON.stringify(s));const a=await fetch(e,o);if(!a.ok)throw await ke(a);r?.(a);const l=a.body.getReader(),i=new TextDecoder;let u="";for(;;){const{value:e,done:n}=await l.read();if(n)break;let s;for(u+=i.decode(e,{stream:!0});(s=u.indexOf("\n\n"))>=0;){const e=u.slice(0,s);u=u.slice(s+2);let n="message";const r=[];for(const t of e.split("\n"))t.startsWith("event: ")?n=t.slice(7):t.startsWith("data: ")?r.push(t.slice(6)):t.startsWith("data:")&&r.push(t.slice(5));r.length>0&&t(n,r.join("\n"))}if(u.length>8388608)throw new ve(0,"event_too_large","An event of the stream is too large")}}function Me(e){if("number"!=typeof e||!Number.isFinite(e))return"–";if(0===e)return"$0";const t=Math.abs(e)<.01?6:4;return`$${e.toFixed(t).replace(/0+$/,"").replace(/\.$/,"")}`}function Te(e){if("number"!=typeof e||!Number.isFinite(e))return"–";if(e<1e3)return`${Math.round(e)} ms`;if(e<6e4)return`${(e/1e3).toFixed(2)} s`;const t=Math.round(e/1e3);return`${Math.floor(t/60)} min ${t%60} s`}function Se(e){if("number"!=typeof e||e<=0)return"–";const t=new Date(e),n=e=>String(e).padStart(2,"0");return`${t.getFullYear()}-${n(t.getMonth()+1)}-${n(t.getDate())} ${n(t.getHours())}:${n(t.getMinutes())}:${n(t.getSeconds())}`}function Ce(e){if(!e)return"–";return`${e.input_tokens??0} in / ${e.output_tokens??0} out`}function qe({status:e}){return Q`<span class=${`badge status-${e}`}>${e}</span>`}function Ae({error:e}){if(e instanceof ge)return Q`<p class="note">This server needs a key: give it above.</p>`;const t=e.code?` (${e.code})`:"";return Q`<p class="note error" role="alert">${e.message}${t}</p>`}const Pe=["","ok","partial","failed","cancelled"];function Ne({run:e}){const t="number"==typeof e.wall_us?e.wall_us/1e3:null;return Q`<tr>
    <td><a href=${`#/runs/${encodeURIComponent(e.id)}`} class="run-link">${Se(e.started_ms)}</a></td>
    <td>${e.target}<span class="muted"> ${e.target_kind}</span></td>
    <td><${qe} status=${e.status} /></td>
    <td class="num">${Te(t)}</td>
    <td class="num">${Ce(e.usage)}</td>
    <td class="num cost">${Me(e.cost_usd)}</td>
    <td class="muted">${e.kind}${e.key?` · ${e.key}`:""}</td>
  </tr>`}function Ue(){const[e,t]=ae({target:"",status:""}),[n,s]=ae({target:"",status:""}),[r,o]=ae([]),[a,l]=ae(null),[i,u]=ae(!0),[c,d]=ae(null),[_,p]=ae(0),m=async t=>{u(!0),d(null);try{const n=await ye("/v1/runs",{...e,limit:50,cursor:t});o(e=>t?[...e,...n.data]:n.data),l(n.has_more?n.next_cursor:null)}catch(e){d(e)}finally{u(!1)}};le(()=>{m(null)},[e,_]);const f=c instanceof ve&&"store_disabled"===c.code;return Q`<section aria-labelledby="history-title">
    <div class="view-head">
      <h1 id="history-title">History</h1>
      <button type="button" onClick=${()=>p(e=>e+1)}>Refresh</button>
    </div>
    <form class="filters" onSubmit=${e=>{e.preventDefault(),t({...n})}}>
      <label>Target
        <input name="target" value=${n.target} placeholder="any ensemble, provider or pipeline"
          onInput=${e=>s({...n,target:e.currentTarget.value})} />
      </label>
      <label>Status
        <select name="status" value=${n.status}
          onChange=${e=>s({...n,status:e.currentTarget.value})}>
          ${Pe.map(e=>Q`<option value=${e}>${e||"any"}</option>`)}
        </select>
      </label>
      <button type="submit">Filter</button>
    </form>
    ${f?Q`<p class="note">This server keeps no runs (<code>store: none</code>): start it with
          <code>--store runs.db</code> or a <code>store:</code> section to see its history.</p>`:c&&Q`<${Ae} error=${c} />`}
    ${!f&&Q`<table class="runs">
      <caption class="visually-hidden">Runs, newest first</caption>
      <thead><tr>
        <th scope="col">Started</th><th scope="col">Target</th><th scope="col">Status</th>
        <th scope="col" class="num">Wall time</th><th scope="col" class="num">Tokens</th>
        <th scope="col" class="num">Cost</th><th scope="col">Via</th>
      </tr></thead>
      <tbody>${r.map(e=>Q`<${Ne} key=${e.id} run=${e} />`)}</tbody>
    </table>`}
    ${!i&&!c&&0===r.length&&Q`<p class="muted">No runs yet.</p>`}
    <div class="more">
      ${i&&Q`<span class="muted" role="status">Loading…</span>`}
      ${!i&&a&&Q`<button type="button" onClick=${()=>m(a)}>More</button>`}
    </div>
  </section>`}function He(e){return e.toLowerCase().replace(/[^\p{L}\p{N}]+/gu,"")}function Re(e){const t=e.map(e=>(e??"").split(/(\s+)/)),n=t.map(e=>{const t=new Set;for(let n=0;n<e.length&&n<1e4;n+=2){const s=He(e[n]);s&&t.add(s)}return t});return t.map((t,s)=>{if(e.length<2)return[{text:e[s]??"",own:!1}];const r=[];for(let e=0;e<t.length;++e){const o=t[e],a=e%2==0&&e<1e4?He(o):"",l=""!==a&&!n.some((e,t)=>t!==s&&e.has(a)),i=r[r.length-1];i&&i.own===l?i.text+=o:r.push({text:o,own:l})}return r})}function De({segments:e}){return Q`<pre class="text">${e.map(e=>e.own?Q`<mark>${e.text}</mark>`:e.text)}</pre>`}const Ie=262144;function je(e,t=""){return{label:e,step:t,state:"waiting",attempt:0,waitMs:0,reason:"",message:"",text:"",queuedMs:null,sentMs:null,firstTokenMs:null,doneMs:null,outcome:null}}function Le(e){return{run:e.run,api:e.api,kind:e.kind,target:e.target,combine:e.combine??"",key:e.key??"",stream:Boolean(e.stream),createdMs:e.created_ms,members:(e.members??[]).map(e=>je(e)),steps:Object.fromEntries((e.steps??[]).map(e=>[e,"waiting"])),answerText:"",status:"running",result:null,doneMs:null}}function Fe(e,t){return e.length>=Ie?e:(e+t).slice(0,Ie)}function Oe(e,t,n=""){let s=e.members.find(e=>e.label===t&&e.step===n);return s||(s=je(t,n),e.members.push(s)),s}function Ee(e){const t=Le(e);return t.members=(e.members??[]).map(e=>({...je(e.member,e.step??""),state:e.state,attempt:e.attempt??0,waitMs:e.wait_ms??0,reason:e.reason??"",message:e.message??"",text:e.text??"",queuedMs:e.queued_ms,sentMs:e.sent_ms,firstTokenMs:e.first_token_ms,doneMs:e.done_ms,outcome:e.outcome})),t.steps={...e.steps??{}},t.answerText=e.answer_text??"",t.createdMs=Date.now()-(e.t??0),t}function We(e,t,n){if("snapshot"===t){for(const[t,n]of e.questions)"running"===n.status&&e.questions.delete(t);for(const t of n.questions??[])e.questions.set(t.run,Ee(t));return e.connected=!0,!0}if("reset"===t)return e.resets+=1,!0;if("question.started"===t){const t=Le(n);return t.createdMs=Date.now(),e.questions.set(n.run,t),!0}const s=e.questions.get(n.run);if(!s)return!1;const r=n.step??"";switch(t){case"member.state":{const e=Oe(s,n.member,r);return e.state=n.state,e.attempt=n.attempt??e.attempt,"queued"===n.state&&null===e.queuedMs&&(e.queuedMs=n.t),"sent"===n.state&&(e.sentMs=n.t),"retrying"===n.state&&(e.waitMs=n.wait_ms??0,e.reason=n.reason??"",e.message=n.message??""),!0}case"member.delta":{if(n.answer&&!r)return s.answerText=Fe(s.answerText,n.text),!0;const e=Oe(s,n.member,r);return null===e.firstTokenMs&&(e.firstTokenMs=n.t),"streaming"!==e.state&&(e.state="streaming"),e.text=Fe(e.text,n.text),!0}case"member.done":{const e=Oe(s,n.member,r);return e.state=n.state,e.doneMs=n.t,e.outcome=n.outcome,!e.text&&n.text&&(e.text=n.text),!0}case"step.started":return s.steps[n.step]="running",!0;case"step.done":return s.steps[n.step]=n.outcome?.status??"done",!0;case"question.done":return s.status=n.status,s.result=n.result,s.doneMs=n.t,!n.result?.text||s.answerText&&!n.result.text.startsWith(s.answerText)||(s.answerText=n.result.text),function(e){const t=[...e.questions.values()].filter(e=>"running"!==e.status);for(let n=0;n+200<t.length;++n)e.questions.delete(t[n].run)}(e),!0;default:return!1}}const Ke={questions:new Map,connected:!1,resets:0},Be=new Set;let Ve=0,ze=null,Je=null,Qe=null;function Ye(){null===Qe&&(Qe=setTimeout(()=>{Qe=null;for(const e of Be)e()},100))}async function Ge(){const e=new AbortController;ze=e;let t=500;for(;ze===e;){try{await xe("/v1/live",(e,t)=>{let n;try{n=JSON.parse(t)}catch{return}We(Ke,e,n)&&Ye()},{signal:e.signal,onResponse:()=>{Je=null,t=500}})}catch(t){if(e.signal.aborted)return;if(Je=t,t instanceof ge)return ze=null,void Ye()}Ke.connected=!1,Ye(),await new Promise(e=>setTimeout(e,t)),t=Math.min(2*t,1e4)}}function Xe(e){const[,t]=ae(0);return le(()=>{const e=()=>t(e=>e+1);return Be.add(e),Ve+=1,null===ze&&Ge(),()=>{Be.delete(e),Ve-=1,setTimeout(()=>{0===Ve&&null!==ze&&(ze.abort(),ze=null)},2e3)}},[]),le(()=>{e>0&&null===ze&&Ge()},[e]),{live:Ke,error:Je}}function Ze(e,t){const n="ok"!==e.status;return{role:t,label:e.member??e.provider??"?",provider:e.provider??"",model:e.model??"",status:e.status??"unknown",failureKind:n?e.error?.kind??e.failure_kind??"":"",httpStatus:e.error?.http_status??e.http_status??null,message:n?e.error?.message??e.error??"":"",latencyMs:e.timing?.total_ms??("number"==typeof e.total_us?e.total_us/1e3:null),usage:e.usage??null,costUsd:e.cost_usd??null,cached:Boolean(e.cached),text:e.text??""}}function et(e){if("string"!=typeof e||""===e)return"";try{const t=JSON.parse(e);if(!Array.isArray(t))return e;const n=t.filter(e=>"user"===e.role).pop();return n?"string"==typeof n.content?n.content:Array.isArray(n.content)?n.content.map(e=>e.text??"").join(""):"":""}catch{return e}}function tt(e){return{winner:e.winner??"",agreement:"number"==typeof e.agreement?e.agreement:null,ranking:e.ranking??[],meanRanks:e.mean_ranks??[],reviews:e.reviews??[],rounds:e.rounds??null}}function nt({m:e,segments:t}){return Q`<article class=${"member "+("ok"===e.status?"":"failed")} aria-label=${`member ${e.label}`}>
    <header>
      <h3>${e.label}${"member"!==e.role&&Q`<span class="muted"> (${e.role})</span>`}</h3>
      <${qe} status=${e.status} />
    </header>
    <p class="muted">${e.provider}${e.model&&` · ${e.model}`}${e.cached?" · cached":""}</p>
    ${"ok"!==e.status&&Q`<p class="failure">
      <strong>${e.failureKind||"failed"}</strong>${e.httpStatus?` (HTTP ${e.httpStatus})`:""}: ${e.message}
    </p>`}
    <dl class="figures">
      <div><dt>Latency</dt><dd>${Te(e.latencyMs)}</dd></div>
      <div><dt>Tokens</dt><dd>${Ce(e.usage)}</dd></div>
      <div><dt>Cost</dt><dd>${Me(e.costUsd)}</dd></div>
    </dl>
    ${t?Q`<${De} segments=${t} />`:e.text&&Q`<pre class="text">${e.text}</pre>`}
  </article>`}function st({votes:e}){return e&&0!==e.length?Q`<section aria-labelledby="votes-title">
    <h2 id="votes-title">Votes</h2>
    <table class="votes">
      <thead><tr><th scope="col">Answer</th><th scope="col" class="num">Weight</th><th scope="col">Voters</th></tr></thead>
      <tbody>${e.map(e=>Q`<tr>
        <td>${e.text??e.answer}</td><td class="num">${e.weight}</td><td>${(e.members??[]).join(", ")}</td>
      </tr>`)}</tbody>
    </table>
  </section>`:null}function rt({v:e}){if(!e)return null;const t=[];return null!==e.agreement&&t.push(Q`<p>Agreement: <strong>${Math.round(100*e.agreement)}%</strong>${e.winner&&Q` · winner <strong>${e.winner}</strong>`}</p>`),e.rounds&&t.push(Q`<p>Debate rounds: ${e.rounds}</p>`),e.ranking.length>0&&t.push(Q`<h3>Ranking</h3><ol class="ranking">${e.ranking.map((t,n)=>Q`<li>${t}${"number"==typeof e.meanRanks[n]?Q` <span class="muted small">mean rank ${e.meanRanks[n].toFixed(2)}</span>`:""}</li>`)}</ol>`),e.reviews.length>0&&t.push(Q`<h3>Peer reviews</h3><ul class="reviews">${e.reviews.map(e=>Q`<li>
      <strong>${e.reviewer}</strong> ranked ${(e.ranking??[]).join(" > ")}
      <span class="muted small">(${Object.entries(e.letters??{}).map(([e,t])=>`${e}=${t}`).join(", ")})</span></li>`)}</ul>`),t.length?Q`<section aria-label="Verdict">${t}</section>`:null}function ot({id:e}){const[t,n]=ae(null),[s,r]=ae(null);le(()=>{let t=!0;return n(null),r(null),ye(`/v1/runs/${encodeURIComponent(e)}`).then(e=>t&&n(function(e){if("tutti.run"===e.object){const t=e.calls??[];return{id:e.id,target:e.target,targetKind:e.target_kind,status:e.status,startedMs:e.started_ms,wallMs:"number"==typeof e.wall_us?e.wall_us/1e3:null,usage:e.usage??null,costUsd:e.cost_usd??null,combine:e.combine??"",prompt:et(e.prompt),answer:e.answer??"",note:e.note??"",votes:e.votes??[],verdict:tt(e),members:t.filter(e=>"member"===(e.role??"member")).map(e=>Ze(e,"member")),combiner:t.filter(e=>e.role&&"member"!==e.role).map(e=>Ze(e,e.role)),pipelineSteps:e.steps??[]}}const t=e.answer??{};return{id:e.id,target:e.name,targetKind:e.kind,status:e.status,startedMs:"number"==typeof e.created?1e3*e.created:null,wallMs:t.total_ms??null,usage:t.usage??null,costUsd:t.cost_usd??null,combine:t.combine??"",prompt:"",answer:t.text??e.result?.output??"",note:t.note??"",votes:t.votes??[],verdict:tt(t),members:(t.members??[]).map(e=>Ze(e,"member")),combiner:(t.combiner_calls??[]).map(e=>Ze(e,"combiner")),pipelineSteps:[]}}(e))).catch(e=>t&&r(e)),()=>{t=!1}},[e]);const o=Q`<p><a href="#/runs">← History</a></p>`;if(s)return Q`<section>${o}<${Ae} error=${s} /></section>`;if(!t)return Q`<section>${o}<p class="muted" role="status">Loading…</p></section>`;const a=[...t.members,...t.combiner],l=t.members.filter(e=>"ok"===e.status&&e.text),i=l.length>1?Re(l.map(e=>e.text)):null;return Q`<section aria-labelledby="run-title">
    ${o}
    <div class="view-head">
      <h1 id="run-title">${t.target} <span class="muted">${t.targetKind}</span></h1>
      <${qe} status=${t.status} />
    </div>
    <dl class="figures summary">
      <div><dt>Started</dt><dd>${Se(t.startedMs)}</dd></div>
      <div><dt>Wall time</dt><dd>${Te(t.wallMs)}</dd></div>
      <div><dt>Tokens</dt><dd>${Ce(t.usage)}</dd></div>
      <div><dt>Total cost</dt><dd class="cost">${Me(t.costUsd)}</dd></div>
      ${t.combine&&Q`<div><dt>Combine</dt><dd>${t.combine}</dd></div>`}
      <div><dt>Run</dt><dd><code>${t.id}</code></dd></div>
    </dl>
    ${t.prompt&&Q`<h2>Question</h2><pre class="text">${t.prompt}</pre>`}
    <h2>Answer</h2>
    ${t.answer?Q`<pre class="text answer">${t.answer}</pre>`:Q`<p class="muted">No answer.</p>`}
    ${t.note&&Q`<p class="note"><strong>Note:</strong> ${t.note}</p>`}
    <${st} votes=${t.votes} />
    <${rt} v=${t.verdict} />
    <h2>Members</h2>
    ${i&&Q`<p class="small muted">Marked: words no other member used.</p>`}
    <div class="members">${a.map(e=>Q`<${nt} m=${e}
      segments=${i&&l.includes(e)?i[l.indexOf(e)]:null} />`)}</div>
  </section>`}function at(e){switch(e.state){case"waiting":return"waiting";case"queued":return"queued for a permit";case"sent":return e.attempt>1?`sent (attempt ${e.attempt})`:"waiting for the first token";case"streaming":return"streaming";case"retrying":return`retrying in ${Te(e.waitMs)} after ${e.reason}`;case"done":return"done";case"cancelled":return"cancelled";case"failed":return`failed: ${e.outcome?.kind??""}`;default:return e.state}}function lt({m:e}){const t="done"===e.state?"ok":"failed"===e.state?"failed":"retrying"===e.state?"partial":e.state;return Q`<span class=${`badge status-${t}`} data-state=${e.state}>${at(e)}</span>`}function it(e){return e.doneMs??Math.max(0,Date.now()-e.createdMs)}function ut({q:e}){return Q`<span class="dots">${e.members.map(e=>Q`<span
    class=${`dot state-${e.state}`} title=${`${e.label}: ${at(e)}`}></span>`)}</span>`}function ct({live:e,error:t}){const n=function(e){const t=[...e.questions.values()],n=t.filter(e=>"running"===e.status).reverse(),s=t.filter(e=>"running"!==e.status).reverse();return[...n,...s]}(e);return Q`<section aria-labelledby="live-title">
    <div class="view-head">
      <h1 id="live-title">Live</h1>
      <span class="muted small" role="status">${e.connected?"connected":"connecting…"}</span>
    </div>
    ${t&&Q`<${Ae} error=${t} />`}
    ${0===n.length?Q`<p class="muted">Nothing in flight. Questions appear here as they are asked.</p>`:Q`<table class="live-list">
      <thead><tr><th scope="col">Target</th><th scope="col">API</th><th scope="col">Key</th>
        <th scope="col">Members</th><th scope="col" class="num">Time</th><th scope="col">Status</th></tr></thead>
      <tbody>${n.map(e=>Q`<tr data-run=${e.run}>
        <td><a href=${`#/live/${encodeURIComponent(e.run)}`}>${e.target}</a> <span class="muted small">${e.kind}</span></td>
        <td class="small">${e.api}</td>
        <td class="small">${e.key||Q`<span class="muted">admin</span>`}</td>
        <td><${ut} q=${e} /></td>
        <td class="num">${Te(it(e))}</td>
        <td><${qe} status=${e.status} /></td>
      </tr>`)}</tbody>
    </table>`}
  </section>`}function dt({q:e}){const t=Math.max(1,it(e),...e.members.map(e=>e.doneMs??0)),n=e=>140+610*Math.min(e,t)/t,s=e.members.map((t,s)=>{const r=22*s+4,o=t.doneMs??it(e),a=[],l=t.queuedMs??t.sentMs??t.firstTokenMs;if(null!=l){const e=t.sentMs??o,s=t.firstTokenMs??o;a.push(Q`<rect class="seg-queued" x=${n(l)} y=${r} width=${Math.max(1,n(e)-n(l))} height="14" />`),null!==t.sentMs&&a.push(Q`<rect class="seg-waiting" x=${n(e)} y=${r} width=${Math.max(1,n(s)-n(e))} height="14" />`),null!==t.firstTokenMs&&a.push(Q`<rect class=${"seg-"+("failed"===t.state?"failed":"streaming")} x=${n(s)} y=${r} width=${Math.max(1,n(o)-n(s))} height="14" />`)}return null!==t.doneMs&&"failed"===t.state&&null===t.firstTokenMs&&a.push(Q`<rect class="seg-failed" x=${n(o)-3} y=${r} width="6" height="14" />`),Q`<g>
      <text x="0" y=${r+12} class="tl-label">${t.step?`${t.step}/`:""}${t.label}</text>
      ${a}
      ${null!==t.doneMs&&Q`<text x=${Math.min(n(o)+4,700)} y=${r+12} class="tl-time">${Te(t.doneMs)}</text>`}
    </g>`});return Q`<figure class="timeline">
    <svg viewBox=${"0 0 760 "+(22*e.members.length+8)} role="img"
      aria-label="Members' timeline: queued, waiting for the first token, streaming">${s}</svg>
    <figcaption class="small muted">
      <span class="key seg-queued"></span> queued <span class="key seg-waiting"></span> waiting for the first token
      <span class="key seg-streaming"></span> streaming <span class="key seg-failed"></span> failed
      · 0 to ${Te(t)}
    </figcaption>
  </figure>`}function _t({m:e,segments:t}){const n=e.outcome;return Q`<article class=${"member "+("failed"===e.state?"failed":"")} aria-label=${`member ${e.label}`} data-member=${e.label}>
    <header>
      <h3>${e.step&&Q`<span class="muted">${e.step} · </span>`}${e.label}</h3>
      <${lt} m=${e} />
    </header>
    ${"retrying"===e.state&&e.message&&Q`<p class="failure small">${e.message}</p>`}
    ${n&&!n.ok&&Q`<p class="failure"><strong>${n.kind}</strong>${n.http_status?` (HTTP ${n.http_status})`:""}: ${n.message}</p>`}
    ${n&&Q`<dl class="figures">
      <div><dt>Latency</dt><dd>${Te(n.timing?.total_ms)}</dd></div>
      <div><dt>Tokens</dt><dd>${Ce(n.usage)}</dd></div>
      <div><dt>Cost</dt><dd>${Me(n.cost_usd)}</dd></div>
    </dl>`}
    ${t?Q`<${De} segments=${t} />`:e.text&&Q`<pre class="text" aria-live="off">${e.text}</pre>`}
  </article>`}function pt({live:e,run:t,embedded:n=!1}){const s=e.questions.get(t),[,r]=ae(0);le(()=>{const e=setInterval(()=>r(e=>e+1),500);return()=>clearInterval(e)},[]);const o=n?null:Q`<p><a href="#/live">← Live</a></p>`;if(!s)return Q`<section>${o}<p class="muted" role="status">
      ${e.connected?"This question is not in flight here. ":"Connecting… "}
      It may be in <a href=${`#/runs/${encodeURIComponent(t)}`}>History</a>.</p></section>`;const a=s.result,l="running"!==s.status,i=s.members.filter(e=>"done"===e.state&&!e.step),u=l&&i.length>1?Re(i.map(e=>e.text)):null;return Q`<section aria-labelledby="question-title">
    ${o}
    <div class="view-head">
      <h1 id="question-title">${s.target} <span class="muted">${s.kind}${s.combine?` · ${s.combine}`:""}</span></h1>
      <${qe} status=${s.status} />
    </div>
    <dl class="figures summary">
      <div><dt>Time</dt><dd>${Te(it(s))}</dd></div>
      <div><dt>API</dt><dd>${s.api}</dd></div>
      <div><dt>Key</dt><dd>${s.key||"admin"}</dd></div>
      ${a&&Q`<div><dt>Tokens</dt><dd>${Ce(a.usage)}</dd></div>
        <div><dt>Total cost</dt><dd class="cost">${Me(a.cost_usd)}</dd></div>`}
      ${null!=a?.agreement&&Q`<div><dt>Agreement</dt><dd>${Math.round(100*a.agreement)}%</dd></div>`}
      <div><dt>Run</dt><dd><code>${s.run}</code></dd></div>
    </dl>
    ${Object.keys(s.steps).length>0&&Q`<p class="steps">${Object.entries(s.steps).map(([e,t])=>Q`<span class=${`badge status-${"done"===t?"ok":t}`}>${e}: ${t}</span> `)}</p>`}
    ${!n&&Q`<h2>Answer</h2>
    ${s.answerText?Q`<pre class="text answer" aria-live="polite">${s.answerText}</pre>`:Q`<p class="muted">${l?"No answer.":"Forming…"}</p>`}`}
    ${a?.note&&Q`<p class="note"><strong>Note:</strong> ${a.note}</p>`}
    ${a&&Q`<${st} votes=${a.votes} />`}
    ${l&&Q`<p><a href=${`#/runs/${encodeURIComponent(s.run)}`}>Open the stored run</a></p>`}
    <h2>Timeline</h2>
    <${dt} q=${s} />
    <h2>Members</h2>
    ${u&&Q`<p class="small muted">Marked: words no other member used.</p>`}
    <div class="members">${s.members.map(e=>Q`<${_t} m=${e}
      segments=${u&&i.includes(e)?u[i.indexOf(e)]:null} />`)}</div>
  </section>`}function mt({run:e,epoch:t}){const{live:n,error:s}=Xe(t);return e?Q`<${pt} live=${n} run=${e} />`:Q`<${ct} live=${n} error=${s} />`}const ft=[["vote",null],["collect",null],["first",null],["judge","judge"],["rank","judge"],["usc","judge"],["synthesize","synthesizer"],["debate",null],["council","chairman"]];function ht(e){const t={model:e.target,messages:[{role:"user",content:e.question}],stream:!0};if("compose"===e.target){const n={members:e.members,until:e.until,mode:e.mode,combine:e.combine},s=ft.find(([t])=>t===e.combine)?.[1];s&&(n[s]=e.helper),t.model="playground",t.tutti={ensemble:n}}return t}function $t({epoch:e}){const{live:t}=Xe(e),[n,s]=ae(null),[r,o]=ae(null),[a,l]=ae({target:"",question:"",members:[],until:"all",mode:"parallel",combine:"vote",helper:""}),[i,u]=ae(""),[c,d]=ae(""),[_,p]=ae(!1),m=ie(null);le(()=>(Promise.all([ye("/v1/ensembles"),ye("/v1/providers")]).then(([e,t])=>{const n=e.data.map(e=>e.name),r=t.data.map(e=>e.name);s({ensembles:n,providers:r}),l(e=>({...e,target:e.target||(n[0]?`ensemble/${n[0]}`:"compose"),members:e.members.length?e.members:r.slice(0,3),helper:e.helper||r[0]||""}))}).catch(o),()=>m.current?.abort()),[e]);const f=e=>t=>l({...a,[e]:t.currentTarget.value});if(!n)return Q`<section><h1>Playground</h1>${r?Q`<${Ae} error=${r} />`:Q`<p class="muted" role="status">Loading…</p>`}</section>`;const h="compose"===a.target,$=ft.find(([e])=>e===a.combine)?.[1];return Q`<section aria-labelledby="play-title">
    <h1 id="play-title">Playground</h1>
    <form class="playground" onSubmit=${async e=>{e.preventDefault(),m.current?.abort();const t=new AbortController;m.current=t,u(""),d(""),o(null),p(!0);let n="";try{await xe("/v1/chat/completions",(e,t)=>{if("[DONE]"===t)return;const s=JSON.parse(t);if(s.error)throw new Error(s.error.message);const r=s.choices?.[0]?.delta?.content;r&&(n+=r,u(n))},{signal:t.signal,body:ht(a),onResponse:e=>d(e.headers.get("x-tutti-run-id")??"")})}catch(e){t.signal.aborted||o(e)}finally{p(!1)}}}>
      <label>Ask
        <select name="target" value=${a.target} onChange=${f("target")}>
          <optgroup label="Ensembles">${n.ensembles.map(e=>Q`<option value=${`ensemble/${e}`}>${e}</option>`)}</optgroup>
          <optgroup label="Providers">${n.providers.map(e=>Q`<option value=${e}>${e}</option>`)}</optgroup>
          <option value="compose">An ensemble composed here…</option>
        </select>
      </label>
      ${h&&Q`<fieldset class="compose">
        <legend>Composed ensemble</legend>
        <div class="choices" role="group" aria-label="Members">${n.providers.map(e=>Q`<label class="check">
          <input type="checkbox" name="member" value=${e} checked=${a.members.includes(e)} onChange=${()=>{return t=e,l({...a,members:a.members.includes(t)?a.members.filter(e=>e!==t):[...a.members,t]});var t}} /> ${e}
        </label>`)}</div>
        <label>Until <select name="until" value=${a.until} onChange=${f("until")}>
          ${["all","first","deadline"].map(e=>Q`<option>${e}</option>`)}</select></label>
        <label>Mode <select name="mode" value=${a.mode} onChange=${f("mode")}>
          ${["parallel","fallback"].map(e=>Q`<option>${e}</option>`)}</select></label>
        <label>Combine <select name="combine" value=${a.combine} onChange=${f("combine")}>
          ${ft.map(([e])=>Q`<option>${e}</option>`)}</select></label>
        ${$&&Q`<label>${$} <select name="helper" value=${a.helper} onChange=${f("helper")}>
          ${n.providers.map(e=>Q`<option>${e}</option>`)}</select></label>`}
      </fieldset>`}
      <label class="wide">Question
        <textarea name="question" rows="3" required value=${a.question} onInput=${f("question")}></textarea>
      </label>
      <div class="actions">
        <button type="submit" disabled=${_}>${_?"Asking…":"Ask"}</button>
        ${_&&Q`<button type="button" class="secondary" onClick=${()=>m.current?.abort()}>Stop</button>`}
      </div>
    </form>
    ${r&&Q`<${Ae} error=${r} />`}
    ${(i||c)&&Q`<h2>Answer</h2><pre class="text answer" aria-live="polite">${i}</pre>`}
    ${c&&Q`<p>Run <code>${c}</code>: <a href=${`#/runs/${encodeURIComponent(c)}`}>the stored run</a></p>`}
    ${c&&t.questions.has(c)&&Q`<${pt} live=${t} run=${c} embedded=${!0} />`}
  </section>`}function gt(){const e=/^#\/runs\/([^/]+)$/.exec(location.hash);if(e)return{view:"run",id:decodeURIComponent(e[1])};const t=/^#\/live(?:\/([^/]+))?$/.exec(location.hash);return t?{view:"live",id:t[1]?decodeURIComponent(t[1]):""}:"#/playground"===location.hash?{view:"playground"}:{view:"history"}}function vt({message:e,onKey:t}){const n=ie(null);le(()=>n.current?.focus(),[]);return Q`<form class="key-form" onSubmit=${e=>{e.preventDefault();const s=n.current.value.trim();n.current.value="",s&&t(s)}} aria-labelledby="key-title">
    <h2 id="key-title">This server needs a key</h2>
    <p>${e}</p>
    <label>Token or API key
      <input ref=${n} type="password" name="tutti-key" autocomplete="off" spellcheck="false" required />
    </label>
    <button type="submit">Use this key</button>
    <p class="muted small">The key stays in this tab's memory only: not in the address, storage or
      cookies. Reloading the page forgets it.</p>
  </form>`}!function(n,s,r){var o,a,l,i;s==document&&(s=document.documentElement),t.__&&t.__(n,s),a=(o="function"==typeof r)?null:r&&r.__k||s.__k,l=[],i=[],D(s,n=(!o&&r||s).__k=b(w,null,[n]),a||m,m,s.namespaceURI,!o&&r?[r]:a?null:s.firstChild?e.call(s.childNodes):null,l,!o&&r?r:a?a.__e:s.firstChild,o,i),j(l,n,i),n.props.children=null}(Q`<${function(){const[e,t]=ae(gt()),[n,s]=ae(null),[r,o]=ae(0);return le(()=>{const e=()=>t(gt());addEventListener("hashchange",e);const n=(r=e=>s(be()?`That key was refused: ${e}`:e),$e.add(r),()=>$e.delete(r));var r;return()=>{removeEventListener("hashchange",e),n()}},[]),Q`<div class="shell">
    <header class="top">
      <a class="brand" href="#/runs">tutti</a>
      <nav aria-label="Views">
        <a href="#/live" aria-current=${"live"===e.view?"page":void 0}>Live</a>
        <a href="#/playground" aria-current=${"playground"===e.view?"page":void 0}>Playground</a>
        <a href="#/runs" aria-current=${"history"===e.view||"run"===e.view?"page":void 0}>History</a>
      </nav>
      <span class="muted small">${be()?"key in memory":""}</span>
    </header>
    <main>
      ${null!==n&&Q`<${vt} message=${n} onKey=${e=>{!function(e){he=e||null}(e),s(null),o(e=>e+1)}} />`}
      ${"run"===e.view?Q`<${ot} key=${`${e.id}:${r}`} id=${e.id} />`:"live"===e.view?Q`<${mt} run=${e.id} epoch=${r} />`:"playground"===e.view?Q`<${$t} epoch=${r} />`:Q`<${Ue} key=${r} />`}
    </main>
  </div>`}} />`,document.getElementById("app"))}();
